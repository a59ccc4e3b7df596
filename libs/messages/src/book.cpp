#include "cryptoflow/messages/book.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <charconv>
#include <iterator>

namespace cryptoflow {
namespace {

template <class Side>
void apply_side(Side& side, const std::vector<PriceLevel>& levels) {
  for (const auto& l : levels) {
    if (l.quantity.is_zero()) {
      side.erase(l.price);
    } else {
      side.insert_or_assign(l.price, l.quantity);
    }
  }
}

template <class Side>
void trim_side(Side& side, std::size_t levels) {
  if (side.size() <= levels) return;
  side.erase(std::next(side.begin(), static_cast<std::ptrdiff_t>(levels)), side.end());
}

template <class Side>
std::vector<PriceLevel> top(const Side& side, std::size_t n) {
  std::vector<PriceLevel> out;
  out.reserve(std::min(n, side.size()));
  for (auto it = side.begin(); it != side.end() && out.size() < n; ++it) out.push_back({it->first, it->second});
  return out;
}

void put_key(std::string& out, std::string_view key) {
  out += '"';
  out += key;
  out += "\":";
}
void put_int(std::string& out, std::string_view key, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out += ',';
  put_key(out, key);
  out.append(buf, r.ptr);
}
// Names (symbol, source, reason) are checked to be plain ASCII letters, digits, '-' and '_'
// when decoded and come from fixed sets when written: they need no escaping.
void put_name(std::string& out, std::string_view key, std::string_view v) {
  out += ',';
  put_key(out, key);
  out += '"';
  out += v;
  out += '"';
}
void put_levels(std::string& out, std::string_view key, const std::vector<PriceLevel>& levels) {
  out += ',';
  put_key(out, key);
  out += '[';
  char buf[64];
  for (std::size_t i = 0; i < levels.size(); ++i) {
    if (i > 0) out += ',';
    out += "[\"";
    out.append(buf, levels[i].price.write(buf));
    out += "\",\"";
    out.append(buf, levels[i].quantity.write(buf));
    out += "\"]";
  }
  out += ']';
}

bool plain_name(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (const char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

class Reader {
 public:
  explicit Reader(const rapidjson::Value& o) : o_(o) {}
  std::string error;
  const rapidjson::Value* get(const char* k) {
    if (!error.empty()) return nullptr;
    const auto it = o_.FindMember(k);
    if (it == o_.MemberEnd()) {
      error = std::string("field '") + k + "': missing";
      return nullptr;
    }
    return &it->value;
  }
  std::int64_t i64(const char* k) {
    const auto* v = get(k);
    if (!v) return 0;
    if (!v->IsInt64() || v->GetInt64() < 0) {
      error = std::string("field '") + k + "': expected a non-negative integer";
      return 0;
    }
    return v->GetInt64();
  }
  std::string name(const char* k, std::size_t max) {
    const auto* v = get(k);
    if (!v) return {};
    if (!v->IsString() || !plain_name({v->GetString(), v->GetStringLength()}, max)) {
      error = std::string("field '") + k + "': expected 1-" + std::to_string(max) + " letters, digits, '-' or '_'";
      return {};
    }
    return {v->GetString(), v->GetStringLength()};
  }
  std::vector<PriceLevel> levels(const char* k) {
    std::vector<PriceLevel> out;
    const auto* v = get(k);
    if (!v) return out;
    if (!v->IsArray() || v->Size() > kMaxLevelsPerSide) {
      error = std::string("field '") + k + "': expected at most " + std::to_string(kMaxLevelsPerSide) + " levels";
      return out;
    }
    out.reserve(v->Size());
    for (const auto& l : v->GetArray()) {
      std::optional<Decimal> price, quantity;
      if (l.IsArray() && l.Size() == 2 && l[0].IsString() && l[1].IsString()) {
        price = Decimal::parse({l[0].GetString(), l[0].GetStringLength()});
        quantity = Decimal::parse({l[1].GetString(), l[1].GetStringLength()});
      }
      if (!price || !quantity || *price <= Decimal() || *quantity < Decimal()) {
        error = std::string("field '") + k + "': a level is not [\"price > 0\", \"quantity >= 0\"]";
        return {};
      }
      out.push_back({*price, *quantity});
    }
    return out;
  }

 private:
  const rapidjson::Value& o_;
};

}  // namespace

void Book::clear() {
  bids_.clear();
  asks_.clear();
}

void Book::apply(const std::vector<PriceLevel>& bids, const std::vector<PriceLevel>& asks) {
  apply_side(bids_, bids);
  apply_side(asks_, asks);
}

void Book::trim(std::size_t levels) {
  trim_side(bids_, levels);
  trim_side(asks_, levels);
}

bool Book::crossed() const {
  return !bids_.empty() && !asks_.empty() && bids_.begin()->first >= asks_.begin()->first;
}

std::vector<PriceLevel> Book::top_bids(std::size_t n) const {
  return top(bids_, n);
}
std::vector<PriceLevel> Book::top_asks(std::size_t n) const {
  return top(asks_, n);
}

std::string_view to_string(BookRecord::Kind kind) {
  switch (kind) {
    case BookRecord::Kind::snapshot: return "snapshot";
    case BookRecord::Kind::update: return "update";
    case BookRecord::Kind::resync: return "resync";
  }
  return "update";
}

void append_json(std::string& out, const BookRecord& r) {
  out += "{\"type\":\"";
  out += to_string(r.kind);
  out += '"';
  put_name(out, "source", r.source);
  put_name(out, "symbol", r.symbol);
  put_int(out, "id", r.id);
  switch (r.kind) {
    case BookRecord::Kind::update:
      put_int(out, "previous_id", r.previous_id);
      put_int(out, "first_id", r.first_id);
      put_int(out, "event_time", r.event_time);
      put_int(out, "received_time", r.received_time);
      put_levels(out, "bids", r.bids);
      put_levels(out, "asks", r.asks);
      break;
    case BookRecord::Kind::snapshot:
      put_int(out, "event_time", r.event_time);
      put_int(out, "received_time", r.received_time);
      put_int(out, "depth", r.depth);
      put_levels(out, "bids", r.bids);
      put_levels(out, "asks", r.asks);
      break;
    case BookRecord::Kind::resync:
      put_int(out, "event_time", r.event_time);
      put_int(out, "received_time", r.received_time);
      put_name(out, "reason", r.reason);
      break;
  }
  out += '}';
}

std::string to_json(const BookRecord& r) {
  std::string out;
  append_json(out, r);
  return out;
}

Decoded<BookRecord> decode_book_record(std::string_view json) {
  Decoded<BookRecord> d;
  if (json.size() > kMaxMessageBytes) {
    d.error = "message larger than " + std::to_string(kMaxMessageBytes) + " bytes";
    return d;
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    d.error = "not a JSON object";
    return d;
  }
  Reader in(doc);
  BookRecord r;
  const auto type = in.name("type", 16);
  if (type == "snapshot") {
    r.kind = BookRecord::Kind::snapshot;
  } else if (type == "update") {
    r.kind = BookRecord::Kind::update;
  } else if (type == "resync") {
    r.kind = BookRecord::Kind::resync;
  } else if (in.error.empty()) {
    in.error = "field 'type': expected snapshot, update or resync";
  }
  r.source = in.name("source", kMaxSourceLength);
  r.symbol = in.name("symbol", kMaxSymbolLength);
  if (in.error.empty() && !std::all_of(r.symbol.begin(), r.symbol.end(),
                                       [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }))
    in.error = "field 'symbol': expected upper-case letters and digits";
  r.id = in.i64("id");
  r.event_time = in.i64("event_time");
  r.received_time = in.i64("received_time");
  if (r.kind == BookRecord::Kind::update) {
    r.previous_id = in.i64("previous_id");
    r.first_id = in.i64("first_id");
    if (in.error.empty() && !(r.previous_id < r.id && r.first_id <= r.id))
      in.error = "field 'id': expected previous_id < id and first_id <= id";
  }
  if (r.kind == BookRecord::Kind::snapshot) {
    r.depth = in.i64("depth");
    if (in.error.empty() && (r.depth < 1 || r.depth > static_cast<std::int64_t>(kMaxLevelsPerSide)))
      in.error = "field 'depth': expected 1-" + std::to_string(kMaxLevelsPerSide);
  }
  if (r.kind == BookRecord::Kind::resync) {
    r.reason = in.name("reason", 32);
    if (in.error.empty() && r.reason != "start" && r.reason != "gap" && r.reason != "connection")
      in.error = "field 'reason': expected start, gap or connection";
  }
  if (r.kind != BookRecord::Kind::resync) {
    r.bids = in.levels("bids");
    r.asks = in.levels("asks");
  }
  if (!in.error.empty()) {
    d.error = std::move(in.error);
    return d;
  }
  d.value = std::move(r);
  return d;
}

BookReader::Result BookReader::apply(const BookRecord& r) {
  switch (r.kind) {
    case BookRecord::Kind::snapshot:
      book_.clear();
      book_.apply(r.bids, r.asks);
      id_ = r.id;
      depth_ = r.depth;
      good_ = true;
      return Result::snapshot;
    case BookRecord::Kind::resync: good_ = false; return Result::resync;
    case BookRecord::Kind::update:
      if (!good_) return Result::ignored;
      if (r.previous_id != id_) {
        good_ = false;
        return Result::broken;
      }
      book_.apply(r.bids, r.asks);
      if (depth_ > 0) book_.trim(static_cast<std::size_t>(depth_));
      id_ = r.id;
      return Result::applied;
  }
  return Result::ignored;
}

}  // namespace cryptoflow
