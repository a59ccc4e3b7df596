// Binance's order-book procedure (BookSync) against real recordings: cryptofeed's spot and USD-M
// futures WebSocket files with the REST depth snapshots taken with them. Each book is rebuilt a
// second way, by a small reference written here (sorted vectors, exact decimals, the procedure as
// Binance's docs state it), and the two must agree after every event; then the faults: a dropped,
// duplicated and reordered event, snapshots older and newer than the buffer, a new connection.
#include "depth_book.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>

#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::binance;

namespace {

struct Timed {
  double ts = 0;  // the recorder's receive time, seconds
  std::string symbol;
  std::string json;
};

// "<prefix> <ts>: <json>" lines: the ws file ("<ts>: {"stream":..,"data":{..}}", its depth events
// only) or the http file ("<url> -> <ts>: <json>", the symbol from the URL).
std::vector<Timed> read_recording(const std::string& name, bool http) {
  std::ifstream in(test::fixture("cryptofeed/" + name));
  REQUIRE(in);
  std::vector<Timed> out;
  std::string line;
  if (!http) std::getline(in, line);  // "<url> <-> <ts>"
  while (std::getline(in, line)) {
    if (line.find(": ") == std::string::npos) continue;  // blank
    std::string head = line.substr(0, line.find(": "));
    const auto body = line.substr(head.size() + 2);
    Timed t;
    if (http) {
      const auto sym = head.find("symbol=");
      t.symbol = head.substr(sym + 7, head.find('&', sym) - sym - 7);
      head = head.substr(head.rfind(' ') + 1);
      t.json = body;
    } else {
      rapidjson::Document d;
      d.Parse(body.c_str());
      REQUIRE(d.IsObject());
      const std::string stream = d["stream"].GetString();
      if (stream.find("@depth") == std::string::npos) continue;
      rapidjson::StringBuffer b;
      rapidjson::Writer<rapidjson::StringBuffer> w(b);
      d["data"].Accept(w);
      t.json = b.GetString();
      t.symbol = d["data"]["s"].GetString();
    }
    t.ts = std::stod(head);
    out.push_back(std::move(t));
  }
  return out;
}

// The reference: each side a vector sorted best first; a quantity replaces, 0 removes.
struct RefBook {
  std::int64_t id = 0;
  std::vector<PriceLevel> bids, asks;
  static void set(std::vector<PriceLevel>& side, const PriceLevel& l, bool descending) {
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
  void apply(const std::vector<PriceLevel>& b, const std::vector<PriceLevel>& a, std::size_t depth) {
    for (const auto& l : b) set(bids, l, true);
    for (const auto& l : a) set(asks, l, false);
    if (bids.size() > depth) bids.resize(depth);
    if (asks.size() > depth) asks.resize(depth);
  }
};

std::vector<PriceLevel> levels(const auto& side) {
  std::vector<PriceLevel> out;
  for (const auto& [price, quantity] : side) out.push_back({price, quantity});
  return out;
}

bool same(const Book& book, const RefBook& ref) {
  return levels(book.bids()) == ref.bids && levels(book.asks()) == ref.asks;
}

DepthSnapshot snapshot_of(const RefBook& ref) {
  return {ref.id, ref.bids, ref.asks};
}

constexpr std::size_t kDepth = 1000;

struct Recording {
  std::map<std::string, DepthSnapshot> snapshots;
  std::map<std::string, double> snapshot_ts;
  std::vector<Timed> events;  // every depth event, in the order received
};

Recording load(const std::string& prefix) {
  Recording r;
  for (const auto& t : read_recording(prefix + ".http.0.0", true)) {
    const auto s = decode_depth_snapshot(t.json);
    REQUIRE(s);
    r.snapshots[t.symbol] = *s;
    r.snapshot_ts[t.symbol] = t.ts;
  }
  r.events = read_recording(prefix + ".ws.1.0", false);
  return r;
}

// The reference's books after each event it applies, per symbol, from the snapshot on: Binance's
// rule for the first event after the snapshot, then the chain (U == u + 1, or pu == u).
std::map<std::string, std::vector<RefBook>> reference(const Recording& r, BookSync::Chain chain) {
  std::map<std::string, std::vector<RefBook>> out;
  for (const auto& [symbol, snap] : r.snapshots) {
    RefBook book{snap.last_update_id, snap.bids, snap.asks};
    book.apply({}, {}, kDepth);
    std::vector<RefBook> states{book};
    bool first = true;
    for (const auto& t : r.events) {
      if (t.symbol != symbol) continue;
      const auto u = decode_depth_update(t.json);
      REQUIRE(u);
      if (u->final_id <= book.id) continue;  // in the snapshot already
      if (chain == BookSync::Chain::spot) {
        INFO(symbol << " U " << u->first_id << " after " << book.id);
        REQUIRE((first ? u->first_id <= book.id + 1 : u->first_id == book.id + 1));
      } else {
        INFO(symbol << " pu " << *u->previous_final_id << " after " << book.id);
        REQUIRE((first ? *u->previous_final_id <= book.id : *u->previous_final_id == book.id));
      }
      first = false;
      book.apply(u->bids, u->asks, kDepth);
      book.id = u->final_id;
      states.push_back(book);
    }
    out[symbol] = std::move(states);
  }
  return out;
}

// Feeds a symbol's events to a BookSync in the order received, the snapshot at the time it was
// received; compares the book with the reference after each event applied.
struct Replay {
  std::size_t applied = 0, compared = 0, crossed = 0, mismatched = 0;
};
Replay replay(const Recording& r, BookSync::Chain chain, const std::map<std::string, std::vector<RefBook>>& ref) {
  Replay out;
  for (const auto& [symbol, snap] : r.snapshots) {
    BookSync sync(chain, kDepth);
    const auto& states = ref.at(symbol);
    std::map<std::int64_t, const RefBook*> by_id;
    for (const auto& s : states) by_id[s.id] = &s;
    bool snapped = false;
    auto snap_now = [&] {
      REQUIRE(sync.on_snapshot(snap) == BookSync::Result::synced);
      snapped = true;
    };
    for (const auto& t : r.events) {
      if (t.symbol != symbol) continue;
      if (!snapped && t.ts > r.snapshot_ts.at(symbol)) snap_now();
      auto u = decode_depth_update(t.json);
      REQUIRE(u);
      const auto result = sync.on_update(std::move(*u));
      REQUIRE(result != BookSync::Result::gap);
      if (result == BookSync::Result::applied) ++out.applied;
      if (!sync.synced()) continue;
      const auto it = by_id.find(sync.last_update_id());
      REQUIRE(it != by_id.end());
      ++out.compared;
      if (!same(sync.book(), *it->second)) ++out.mismatched;
      if (sync.book().crossed()) ++out.crossed;
    }
    if (!snapped) snap_now();
    REQUIRE(sync.last_update_id() == states.back().id);
    CHECK(same(sync.book(), states.back()));
  }
  return out;
}

std::size_t applied_by_reference(const std::map<std::string, std::vector<RefBook>>& ref) {
  std::size_t n = 0;
  for (const auto& [symbol, states] : ref) n += states.size() - 1;
  return n;
}

}  // namespace

TEST_CASE("depth: spot recording - every book equals the reference after every event - 172 events, never crossed") {
  const auto r = load("BINANCE");
  REQUIRE(r.snapshots.size() == 4);
  const auto ref = reference(r, BookSync::Chain::spot);
  CHECK(applied_by_reference(ref) == 172);
  const auto got = replay(r, BookSync::Chain::spot, ref);
  CHECK(got.mismatched == 0);
  CHECK(got.crossed == 0);
  CHECK(got.compared >= 150);
  // NKNUSDT, as SOURCES.md tells it: lastUpdateId 499869752; the event U=499869750 u=499869752
  // is in the snapshot, the next starts at 499869753.
  CHECK(r.snapshots.at("NKNUSDT").last_update_id == 499869752);
}

TEST_CASE("depth: USD-M futures recording chained by pu - equals the reference after every event - 749 events") {
  const auto r = load("BINANCE_FUTURES");
  REQUIRE(r.snapshots.size() >= 4);
  const auto ref = reference(r, BookSync::Chain::futures);
  CHECK(applied_by_reference(ref) == 749);
  const auto got = replay(r, BookSync::Chain::futures, ref);
  CHECK(got.mismatched == 0);
  CHECK(got.crossed == 0);
  // Here each snapshot's id is an event's U or u (SUSHIUSDT: U; the other three: u, so that event
  // is dropped and the next follows by pu == id). Futures ids are shared by every symbol, so the
  // id can also fall between two of a symbol's events (pu < id < U): the second is applied, where
  // Binance's "U <= lastUpdateId <= u" matches no event.
  BookSync sync(BookSync::Chain::futures, kDepth);
  const auto d = [](const char* x) { return *Decimal::parse(x); };
  CHECK(sync.on_update({"X", 0, 95, 100, 90, {{d("1"), d("1")}}, {}}) == BookSync::Result::buffered);
  CHECK(sync.on_update({"X", 0, 105, 110, 100, {{d("1"), d("2")}}, {}}) == BookSync::Result::buffered);
  CHECK(sync.on_snapshot({103, {{d("1"), d("7")}}, {{d("2"), d("1")}}}) == BookSync::Result::synced);
  CHECK(sync.last_update_id() == 110);
  CHECK(levels(sync.book().bids()) == std::vector<PriceLevel>{{d("1"), d("2")}});
  CHECK(sync.on_update({"X", 0, 111, 120, 110, {}, {{d("2"), d("0")}}}) == BookSync::Result::applied);
  CHECK(sync.on_update({"X", 0, 125, 130, 121, {}, {}}) == BookSync::Result::gap);  // pu != 120
}

namespace {

// NKNUSDT's events after its snapshot, and the reference's book after each.
struct Nkn {
  Recording r = load("BINANCE");
  std::map<std::string, std::vector<RefBook>> ref = reference(r, BookSync::Chain::spot);
  std::vector<DepthUpdate> after;  // events the snapshot does not contain, in order
  Nkn() {
    const auto id = r.snapshots.at("NKNUSDT").last_update_id;
    for (const auto& t : r.events)
      if (t.symbol == "NKNUSDT")
        if (auto u = decode_depth_update(t.json); u->final_id > id) after.push_back(std::move(*u));
    REQUIRE(after.size() > 100);
  }
  const RefBook& book_at(std::int64_t id) const {
    for (const auto& s : ref.at("NKNUSDT"))
      if (s.id == id) return s;
    FAIL("no reference book at " << id);
    throw std::logic_error("unreachable");
  }
};

}  // namespace

TEST_CASE("depth: a dropped, duplicated or reordered event is a gap - the book stays out of sync until a snapshot") {
  const Nkn n;
  const auto& snap = n.r.snapshots.at("NKNUSDT");
  for (const char* fault : {"dropped", "duplicated", "reordered"}) {
    INFO(fault);
    BookSync sync(BookSync::Chain::spot, kDepth);
    REQUIRE(sync.on_snapshot(snap) == BookSync::Result::synced);
    for (std::size_t i = 0; i < 50; ++i) REQUIRE(sync.on_update(n.after[i]) == BookSync::Result::applied);
    const auto before = sync.last_update_id();
    BookSync::Result result{};
    if (std::string(fault) == "dropped") result = sync.on_update(n.after[51]);
    if (std::string(fault) == "duplicated") result = sync.on_update(n.after[49]);
    if (std::string(fault) == "reordered") result = sync.on_update(n.after[51]);  // 51 before 50
    CHECK(result == BookSync::Result::gap);
    CHECK_FALSE(sync.synced());
    CHECK(sync.last_update_id() == before);       // the old book is kept, marked out of sync
    CHECK(same(sync.book(), n.book_at(before)));  // and unchanged by the event
    for (std::size_t i = 52; i < 60; ++i) CHECK(sync.on_update(n.after[i]) == BookSync::Result::buffered);
    // A snapshot taken later (the reference's book after event 54) brings it back in sync:
    // the buffered events it contains are dropped, the rest applied.
    CHECK(sync.on_snapshot(snapshot_of(n.book_at(n.after[54].final_id))) == BookSync::Result::synced);
    CHECK(sync.last_update_id() == n.after[59].final_id);
    CHECK(same(sync.book(), n.book_at(n.after[59].final_id)));
    for (std::size_t i = 60; i < n.after.size(); ++i) REQUIRE(sync.on_update(n.after[i]) == BookSync::Result::applied);
    CHECK(same(sync.book(), n.ref.at("NKNUSDT").back()));
  }
}

TEST_CASE("depth: a snapshot older than the first buffered event is refused - one several events newer is used") {
  const Nkn n;
  BookSync sync(BookSync::Chain::spot, kDepth);
  for (std::size_t i = 20; i < 30; ++i) CHECK(sync.on_update(n.after[i]) == BookSync::Result::buffered);
  // The recorded snapshot is older than event 20's U: the ids in between were never seen.
  CHECK(sync.on_snapshot(n.r.snapshots.at("NKNUSDT")) == BookSync::Result::too_old);
  CHECK_FALSE(sync.synced());
  CHECK(sync.buffered() == 10);
  // One taken after event 25: events 20-25 are in it (dropped), 26-29 applied.
  CHECK(sync.on_snapshot(snapshot_of(n.book_at(n.after[25].final_id))) == BookSync::Result::synced);
  CHECK(sync.last_update_id() == n.after[29].final_id);
  CHECK(same(sync.book(), n.book_at(n.after[29].final_id)));
  CHECK(sync.on_snapshot(n.r.snapshots.at("NKNUSDT")) == BookSync::Result::ignored);
  // A snapshot newer than everything buffered: the next live event must cover the id after it.
  BookSync late(BookSync::Chain::spot, kDepth);
  for (std::size_t i = 0; i < 5; ++i) CHECK(late.on_update(n.after[i]) == BookSync::Result::buffered);
  CHECK(late.on_snapshot(snapshot_of(n.book_at(n.after[8].final_id))) == BookSync::Result::synced);
  CHECK(late.on_update(n.after[7]) == BookSync::Result::stale);  // delivered late: in the snapshot
  CHECK(late.on_update(n.after[9]) == BookSync::Result::applied);
  CHECK(same(late.book(), n.book_at(n.after[9].final_id)));
}

TEST_CASE("depth: a new connection resyncs from the next snapshot") {
  const Nkn n;
  BookSync sync(BookSync::Chain::spot, kDepth);
  REQUIRE(sync.on_snapshot(n.r.snapshots.at("NKNUSDT")) == BookSync::Result::synced);
  for (std::size_t i = 0; i < 40; ++i) REQUIRE(sync.on_update(n.after[i]) == BookSync::Result::applied);
  sync.restart();
  CHECK_FALSE(sync.synced());
  // The new connection's first events (40 and 41 were lost between the two connections).
  for (std::size_t i = 42; i < 50; ++i) CHECK(sync.on_update(n.after[i]) == BookSync::Result::buffered);
  CHECK(sync.on_snapshot(snapshot_of(n.book_at(n.after[44].final_id))) == BookSync::Result::synced);
  CHECK(same(sync.book(), n.book_at(n.after[49].final_id)));
}

TEST_CASE("depth: levels are exact decimals - 0 removes - an unknown level's removal is normal - trimmed to depth") {
  BookSync sync(BookSync::Chain::spot, 2);
  auto d = [](const char* s) { return *Decimal::parse(s); };
  REQUIRE(sync.on_snapshot({10, {{d("1.10"), d("5")}, {d("1.00"), d("1")}}, {{d("1.2"), d("3")}}}) ==
          BookSync::Result::synced);
  DepthUpdate u{"X",
                0,
                11,
                12,
                std::nullopt,
                {{d("1.1"), d("0")}, {d("0.9"), d("2")}, {d("0.5"), d("0")}},
                {{d("1.3"), d("4.000")}, {d("1.25"), d("1")}}};
  REQUIRE(sync.on_update(u) == BookSync::Result::applied);
  CHECK(levels(sync.book().bids()) == std::vector<PriceLevel>{{d("1.00"), d("1")}, {d("0.9"), d("2")}});
  CHECK(levels(sync.book().asks()) == std::vector<PriceLevel>{{d("1.2"), d("3")}, {d("1.25"), d("1")}});  // 1.3 trimmed
  CHECK_FALSE(sync.book().crossed());
}

TEST_CASE("depth: decoders refuse what is not a depth event or snapshot") {
  CHECK(decode_depth_update(R"({"e":"depthUpdate","E":1,"s":"X","U":5,"u":6,"b":[["1.0","2"]],"a":[]})"));
  CHECK_FALSE(decode_depth_update(R"({"e":"trade","E":1,"s":"X","U":5,"u":6,"b":[],"a":[]})"));
  CHECK_FALSE(decode_depth_update(R"({"e":"depthUpdate","E":1,"s":"X","U":7,"u":6,"b":[],"a":[]})"));  // U > u
  CHECK_FALSE(decode_depth_update(R"({"e":"depthUpdate","E":1,"s":"X","U":5,"u":6,"pu":5,"b":[],"a":[]})"));
  CHECK_FALSE(decode_depth_update(R"({"e":"depthUpdate","E":1,"s":"X","U":5,"u":6,"b":[["1.0x","2"]],"a":[]})"));
  CHECK_FALSE(decode_depth_update(R"({"e":"depthUpdate","E":1,"s":"X","U":5,"u":6,"b":[["-1","2"]],"a":[]})"));
  CHECK_FALSE(decode_depth_update(R"({"e":"depthUpdate","E":1,"s":"X","U":5,"u":6,"b":[["1",2]],"a":[]})"));
  CHECK_FALSE(decode_depth_update("{"));
  std::string big = R"({"lastUpdateId":1,"asks":[],"bids":[)";
  for (std::size_t i = 0; i <= kMaxLevelsPerSide; ++i) big += (i ? ",[\"1\",\"1\"]" : "[\"1\",\"1\"]");
  CHECK_FALSE(decode_depth_snapshot(big + "]}"));
  CHECK(decode_depth_snapshot(R"({"lastUpdateId":1,"bids":[],"asks":[["2","1"]]})"));
  CHECK_FALSE(decode_depth_snapshot(R"({"lastUpdateId":-1,"bids":[],"asks":[]})"));
}
