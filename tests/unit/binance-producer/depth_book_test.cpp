// Binance's order-book procedure (BookSync) against real recordings: cryptofeed's spot and USD-M
// futures WebSocket files with the REST depth snapshots taken with them. Each book is rebuilt a
// second way, by a small reference written here (sorted vectors, exact decimals, the procedure as
// Binance's docs state it), and the two must agree after every event; then the faults: a dropped,
// duplicated and reordered event, snapshots older and newer than the buffer, a new connection.
#include "binance-producer/src/depth_book.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>

#include "depth_recording.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::binance;

namespace {

using test::DepthRecording;
using test::RefBook;
using test::same_book;
using Recording = DepthRecording;

template <class Side>
std::vector<PriceLevel> levels(const Side& side) {
  return test::levels_of(side);
}

DepthSnapshot snapshot_of(const RefBook& ref) {
  return {ref.id, ref.bids, ref.asks};
}
DepthSnapshot snapshot_of(const test::RecordedSnapshot& s) {
  return {s.last_update_id, s.bids, s.asks};
}

constexpr std::size_t kDepth = 1000;

Recording load(const std::string& prefix) {
  auto r = test::load_depth_recording(prefix);
  for (const auto& [symbol, snap] : r.snapshots)
    REQUIRE(decode_depth_snapshot(snap.body));  // the producer reads them too
  return r;
}

std::map<std::string, std::vector<RefBook>> reference(const Recording& r, BookSync::Chain) {
  return test::reference_books(r, kDepth);
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
    const auto snapshot = snapshot_of(snap);
    std::map<std::int64_t, const RefBook*> by_id;
    for (const auto& s : states) by_id[s.id] = &s;
    bool snapped = false;
    auto snap_now = [&] {
      REQUIRE(sync.on_snapshot(snapshot) == BookSync::Result::synced);
      snapped = true;
    };
    for (const auto& t : r.events) {
      if (t.symbol != symbol) continue;
      if (!snapped && t.ts > snap.ts) snap_now();
      auto u = decode_depth_update(t.frame);
      REQUIRE(u);
      const auto result = sync.on_update(std::move(*u));
      REQUIRE(result != BookSync::Result::gap);
      if (result == BookSync::Result::applied) ++out.applied;
      if (!sync.synced()) continue;
      const auto it = by_id.find(sync.last_update_id());
      REQUIRE(it != by_id.end());
      ++out.compared;
      if (!same_book(sync.book(), *it->second)) ++out.mismatched;
      if (sync.book().crossed()) ++out.crossed;
    }
    if (!snapped) snap_now();
    REQUIRE(sync.last_update_id() == states.back().id);
    CHECK(same_book(sync.book(), states.back()));
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
        if (auto u = decode_depth_update(t.frame); u->final_id > id) after.push_back(std::move(*u));
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
  const auto snap = snapshot_of(n.r.snapshots.at("NKNUSDT"));
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
    CHECK(sync.last_update_id() == before);            // the old book is kept, marked out of sync
    CHECK(same_book(sync.book(), n.book_at(before)));  // and unchanged by the event
    for (std::size_t i = 52; i < 60; ++i) CHECK(sync.on_update(n.after[i]) == BookSync::Result::buffered);
    // A snapshot taken later (the reference's book after event 54) brings it back in sync:
    // the buffered events it contains are dropped, the rest applied.
    CHECK(sync.on_snapshot(snapshot_of(n.book_at(n.after[54].final_id))) == BookSync::Result::synced);
    CHECK(sync.last_update_id() == n.after[59].final_id);
    CHECK(same_book(sync.book(), n.book_at(n.after[59].final_id)));
    for (std::size_t i = 60; i < n.after.size(); ++i) REQUIRE(sync.on_update(n.after[i]) == BookSync::Result::applied);
    CHECK(same_book(sync.book(), n.ref.at("NKNUSDT").back()));
  }
}

TEST_CASE("depth: a snapshot older than the first buffered event is refused - one several events newer is used") {
  const Nkn n;
  BookSync sync(BookSync::Chain::spot, kDepth);
  for (std::size_t i = 20; i < 30; ++i) CHECK(sync.on_update(n.after[i]) == BookSync::Result::buffered);
  // The recorded snapshot is older than event 20's U: the ids in between were never seen.
  CHECK(sync.on_snapshot(snapshot_of(n.r.snapshots.at("NKNUSDT"))) == BookSync::Result::too_old);
  CHECK_FALSE(sync.synced());
  CHECK(sync.buffered() == 10);
  // One taken after event 25: events 20-25 are in it (dropped), 26-29 applied.
  CHECK(sync.on_snapshot(snapshot_of(n.book_at(n.after[25].final_id))) == BookSync::Result::synced);
  CHECK(sync.last_update_id() == n.after[29].final_id);
  CHECK(same_book(sync.book(), n.book_at(n.after[29].final_id)));
  CHECK(sync.on_snapshot(snapshot_of(n.r.snapshots.at("NKNUSDT"))) == BookSync::Result::ignored);
  // A snapshot newer than everything buffered: the next live event must cover the id after it.
  BookSync late(BookSync::Chain::spot, kDepth);
  for (std::size_t i = 0; i < 5; ++i) CHECK(late.on_update(n.after[i]) == BookSync::Result::buffered);
  CHECK(late.on_snapshot(snapshot_of(n.book_at(n.after[8].final_id))) == BookSync::Result::synced);
  CHECK(late.on_update(n.after[7]) == BookSync::Result::stale);  // delivered late: in the snapshot
  CHECK(late.on_update(n.after[9]) == BookSync::Result::applied);
  CHECK(same_book(late.book(), n.book_at(n.after[9].final_id)));
}

TEST_CASE("depth: a new connection resyncs from the next snapshot") {
  const Nkn n;
  BookSync sync(BookSync::Chain::spot, kDepth);
  REQUIRE(sync.on_snapshot(snapshot_of(n.r.snapshots.at("NKNUSDT"))) == BookSync::Result::synced);
  for (std::size_t i = 0; i < 40; ++i) REQUIRE(sync.on_update(n.after[i]) == BookSync::Result::applied);
  sync.restart();
  CHECK_FALSE(sync.synced());
  // The new connection's first events (40 and 41 were lost between the two connections).
  for (std::size_t i = 42; i < 50; ++i) CHECK(sync.on_update(n.after[i]) == BookSync::Result::buffered);
  CHECK(sync.on_snapshot(snapshot_of(n.book_at(n.after[44].final_id))) == BookSync::Result::synced);
  CHECK(same_book(sync.book(), n.book_at(n.after[49].final_id)));
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
