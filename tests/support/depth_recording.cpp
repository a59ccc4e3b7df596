#include "depth_recording.hpp"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <memory>

#include "test_support.hpp"

namespace cryptoflow::test {
namespace {

std::vector<PriceLevel> parse_levels(const rapidjson::Value& v) {
  REQUIRE(v.IsArray());
  std::vector<PriceLevel> out;
  for (const auto& l : v.GetArray()) {
    const auto p = Decimal::parse(l[0].GetString());
    const auto q = Decimal::parse(l[1].GetString());
    REQUIRE((p && q));
    out.push_back({*p, *q});
  }
  return out;
}

void set(std::vector<PriceLevel>& side, const PriceLevel& l, bool descending) {
  auto it = side.begin();
  while (it != side.end() && (descending ? it->price > l.price : it->price < l.price)) ++it;
  const bool found = it != side.end() && it->price == l.price;
  if (l.quantity.is_zero()) {
    if (found) side.erase(it);
  } else if (found) {
    it->quantity = l.quantity;
  } else {
    side.insert(it, l);
  }
}

template <class Side>
std::vector<PriceLevel> levels(const Side& side) {
  std::vector<PriceLevel> out;
  for (const auto& [price, quantity] : side) out.push_back({price, quantity});
  return out;
}

}  // namespace

std::vector<PriceLevel> levels_of(const Book::Bids& side) {
  return levels(side);
}
std::vector<PriceLevel> levels_of(const Book::Asks& side) {
  return levels(side);
}

void RefBook::apply(const std::vector<PriceLevel>& b, const std::vector<PriceLevel>& a, std::size_t depth) {
  for (const auto& l : b) set(bids, l, true);
  for (const auto& l : a) set(asks, l, false);
  if (bids.size() > depth) bids.resize(depth);
  if (asks.size() > depth) asks.resize(depth);
}

// Lines: the ws file "<ts>: {"stream":..,"data":{..}}" after a "<url> <-> <ts>" header; the http
// file "<url> -> <ts>: <json>", the symbol from the URL.
DepthRecording load_depth_recording(const std::string& prefix) {
  DepthRecording r;
  r.futures = prefix.find("FUTURES") != std::string::npos;
  {
    std::ifstream in(fixture("cryptofeed/" + prefix + ".http.0.0"));
    REQUIRE(in);
    std::string line;
    while (std::getline(in, line)) {
      const auto colon = line.find(": ");
      if (colon == std::string::npos) continue;
      const auto head = line.substr(0, colon);
      const auto sym = head.find("symbol=");
      RecordedSnapshot s;
      s.body = line.substr(colon + 2);
      s.ts = std::stod(head.substr(head.rfind(' ') + 1));
      rapidjson::Document d;
      d.Parse(s.body.c_str());
      REQUIRE(d.IsObject());
      s.last_update_id = d["lastUpdateId"].GetInt64();
      s.bids = parse_levels(d["bids"]);
      s.asks = parse_levels(d["asks"]);
      r.snapshots[head.substr(sym + 7, head.find('&', sym) - sym - 7)] = std::move(s);
    }
  }
  std::ifstream in(fixture("cryptofeed/" + prefix + ".ws.1.0"));
  REQUIRE(in);
  std::string line;
  std::getline(in, line);  // "<url> <-> <ts>"
  while (std::getline(in, line)) {
    const auto colon = line.find(": ");
    if (colon == std::string::npos) continue;
    RecordedDepth e;
    e.frame = line.substr(colon + 2);
    e.ts = std::stod(line.substr(0, colon));
    rapidjson::Document d;
    d.Parse(e.frame.c_str());
    REQUIRE(d.IsObject());
    if (std::string(d["stream"].GetString()).find("@depth") == std::string::npos) continue;
    const auto& data = d["data"];
    e.symbol = data["s"].GetString();
    e.event_time = data["E"].GetInt64();
    e.first_id = data["U"].GetInt64();
    e.final_id = data["u"].GetInt64();
    if (data.HasMember("pu")) e.previous_final_id = data["pu"].GetInt64();
    e.bids = parse_levels(data["b"]);
    e.asks = parse_levels(data["a"]);
    r.events.push_back(std::move(e));
  }
  return r;
}

std::map<std::string, std::vector<RefBook>> reference_books(const DepthRecording& r, std::size_t depth) {
  std::map<std::string, std::vector<RefBook>> out;
  for (const auto& [symbol, snap] : r.snapshots) {
    RefBook book{snap.last_update_id, snap.bids, snap.asks};
    book.apply({}, {}, depth);
    std::vector<RefBook> states{book};
    bool first = true;
    for (const auto& e : r.events) {
      if (e.symbol != symbol) continue;
      if (e.final_id <= book.id) continue;  // in the snapshot already
      if (!r.futures) {
        INFO(symbol << " U " << e.first_id << " after " << book.id);
        REQUIRE((first ? e.first_id <= book.id + 1 : e.first_id == book.id + 1));
      } else {
        INFO(symbol << " pu " << *e.previous_final_id << " after " << book.id);
        REQUIRE((first ? *e.previous_final_id <= book.id : *e.previous_final_id == book.id));
      }
      first = false;
      book.apply(e.bids, e.asks, depth);
      book.id = e.final_id;
      states.push_back(book);
    }
    out[symbol] = std::move(states);
  }
  return out;
}

std::string depth_answer(const RefBook& book, std::size_t limit) {
  auto side = [&](const std::vector<PriceLevel>& levels) {
    std::string s = "[";
    for (std::size_t i = 0; i < levels.size() && i < limit; ++i)
      s += (i ? ",[\"" : "[\"") + levels[i].price.to_string() + "\",\"" + levels[i].quantity.to_string() + "\"]";
    return s + "]";
  };
  return "{\"lastUpdateId\":" + std::to_string(book.id) + ",\"bids\":" + side(book.bids) +
         ",\"asks\":" + side(book.asks) + "}";
}

ServedDepth served_depth(const std::string& prefix, const DepthRecording& rec,
                         const std::map<std::string, std::vector<RefBook>>& ref, std::size_t depth) {
  std::map<std::string, std::size_t> depth_index;  // frame -> index in rec.events
  for (std::size_t i = 0; i < rec.events.size(); ++i) depth_index[rec.events[i].frame] = i;
  ServedDepth out;
  // For each frame: the book it leaves its symbol with (null: not a depth frame, or one the
  // snapshot already holds).
  auto after = std::make_shared<std::vector<std::pair<std::string, const RefBook*>>>();
  auto books = std::make_shared<std::map<std::string, std::vector<RefBook>>>(ref);
  std::ifstream in(fixture("cryptofeed/" + prefix + ".ws.1.0"));
  REQUIRE(in);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    const auto colon = line.find(": ");
    if (colon == std::string::npos) continue;
    out.frames.push_back(line.substr(colon + 2));
    const auto it = depth_index.find(out.frames.back());
    const RefBook* book = nullptr;
    if (it != depth_index.end()) {
      const auto& e = rec.events[it->second];
      for (const auto& s : books->at(e.symbol))
        if (s.id == e.final_id) book = &s;
      after->emplace_back(e.symbol, book);
    } else {
      after->emplace_back("", nullptr);
    }
  }
  out.snapshot_now = [after, books, depth](const std::string& symbol, std::size_t emitted) {
    const RefBook* book = &books->at(symbol).front();  // the recorded snapshot
    for (std::size_t i = 0; i < emitted && i < after->size(); ++i)
      if ((*after)[i].first == symbol && (*after)[i].second) book = (*after)[i].second;
    return depth_answer(*book, depth);
  };
  return out;
}

}  // namespace cryptoflow::test
