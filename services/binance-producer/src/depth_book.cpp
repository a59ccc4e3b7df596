#include "depth_book.hpp"

#include <rapidjson/document.h>

#include <iterator>

namespace cryptoflow::binance {
namespace {

bool read_levels(const rapidjson::Value& v, std::vector<PriceLevel>& out) {
  if (!v.IsArray() || v.Size() > kMaxLevelsPerSide) return false;
  out.reserve(v.Size());
  for (const auto& level : v.GetArray()) {
    if (!level.IsArray() || level.Size() < 2 || !level[0].IsString() || !level[1].IsString()) return false;
    const auto price = Decimal::parse({level[0].GetString(), level[0].GetStringLength()});
    const auto quantity = Decimal::parse({level[1].GetString(), level[1].GetStringLength()});
    if (!price || !quantity || *price <= Decimal() || *quantity < Decimal()) return false;
    out.push_back({*price, *quantity});
  }
  return true;
}

std::optional<std::int64_t> id_of(const rapidjson::Value& o, const char* name) {
  const auto it = o.FindMember(name);
  if (it == o.MemberEnd() || !it->value.IsInt64() || it->value.GetInt64() < 0) return std::nullopt;
  return it->value.GetInt64();
}

}  // namespace

std::optional<DepthUpdate> decode_depth_update(std::string_view json) {
  if (json.size() > kMaxMessageBytes) return std::nullopt;
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  const rapidjson::Value* event = &doc;
  if (const auto data = doc.FindMember("data"); data != doc.MemberEnd() && data->value.IsObject())
    event = &data->value;  // a combined stream's wrapper
  const auto& d = *event;
  const auto e = d.FindMember("e");
  const auto s = d.FindMember("s");
  const auto b = d.FindMember("b");
  const auto a = d.FindMember("a");
  if (e == d.MemberEnd() || !e->value.IsString() || std::string_view(e->value.GetString()) != "depthUpdate" ||
      s == d.MemberEnd() || !s->value.IsString() || s->value.GetStringLength() == 0 ||
      s->value.GetStringLength() > kMaxSymbolLength || b == d.MemberEnd() || a == d.MemberEnd())
    return std::nullopt;
  DepthUpdate u;
  u.symbol.assign(s->value.GetString(), s->value.GetStringLength());
  for (auto& c : u.symbol) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return std::nullopt;
  }
  const auto first = id_of(d, "U"), last = id_of(d, "u"), time = id_of(d, "E");
  if (!first || !last || !time || *first > *last) return std::nullopt;
  u.first_id = *first;
  u.final_id = *last;
  u.event_time = *time;
  if (d.HasMember("pu")) {
    u.previous_final_id = id_of(d, "pu");
    if (!u.previous_final_id || *u.previous_final_id >= u.first_id) return std::nullopt;
  }
  if (!read_levels(b->value, u.bids) || !read_levels(a->value, u.asks)) return std::nullopt;
  return u;
}

std::optional<DepthSnapshot> decode_depth_snapshot(std::string_view json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) return std::nullopt;
  const auto id = id_of(d, "lastUpdateId");
  const auto b = d.FindMember("bids");
  const auto a = d.FindMember("asks");
  if (!id || b == d.MemberEnd() || a == d.MemberEnd()) return std::nullopt;
  DepthSnapshot s;
  s.last_update_id = *id;
  if (!read_levels(b->value, s.bids) || !read_levels(a->value, s.asks)) return std::nullopt;
  return s;
}

BookSync::BookSync(Chain chain, std::size_t depth, std::size_t max_buffered)
    : chain_(chain), depth_(depth), max_buffered_(max_buffered) {}

BookSync::Result BookSync::on_update(DepthUpdate update) {
  if (synced_) return apply(update);
  buffer_.push_back(std::move(update));
  if (buffer_.size() > max_buffered_) buffer_.pop_front();  // a snapshot must then be newer
  return Result::buffered;
}

BookSync::Result BookSync::apply(const DepthUpdate& u) {
  // Right after the snapshot, events it contains are dropped and the first one applied is the
  // one that covers the id after the snapshot's; from then on each must follow the one before.
  if (since_snapshot_ && u.final_id <= last_id_) return Result::stale;
  bool follows = false;
  if (chain_ == Chain::spot) {
    follows = since_snapshot_ ? u.first_id <= last_id_ + 1 : u.first_id == last_id_ + 1;
  } else if (u.previous_final_id) {
    follows = since_snapshot_ ? *u.previous_final_id <= last_id_ : *u.previous_final_id == last_id_;
  }
  if (!follows) {
    synced_ = false;       // the book in place is kept, out of sync, until the next snapshot
    buffer_.assign(1, u);  // the next snapshot must reach back to this event
    return Result::gap;
  }
  book_.apply(u.bids, u.asks);
  book_.trim(depth_);
  last_id_ = u.final_id;
  since_snapshot_ = false;
  return Result::applied;
}

BookSync::Result BookSync::on_snapshot(const DepthSnapshot& s) {
  if (synced_) return Result::ignored;
  if (!buffer_.empty()) {
    const auto& first = buffer_.front();
    const bool reaches = chain_ == Chain::spot || !first.previous_final_id
                             ? first.first_id <= s.last_update_id + 1
                             : *first.previous_final_id <= s.last_update_id;
    if (!reaches) return Result::too_old;  // ids between the snapshot and the buffer were not seen
  }
  book_.clear();
  book_.apply(s.bids, s.asks);
  book_.trim(depth_);
  last_id_ = s.last_update_id;
  synced_ = true;
  since_snapshot_ = true;
  auto buffered = std::move(buffer_);
  buffer_.clear();
  for (auto it = buffered.begin(); it != buffered.end(); ++it)
    if (apply(*it) == Result::gap) {  // the buffer now starts at *it: the events after it follow
      buffer_.insert(buffer_.end(), std::make_move_iterator(std::next(it)), std::make_move_iterator(buffered.end()));
      return Result::gap;
    }
  return Result::synced;
}

void BookSync::restart() {
  synced_ = false;
  buffer_.clear();
}

}  // namespace cryptoflow::binance
