// DepthBooks against the recordings: the records it writes to crypto.books, read back the way
// any reader does (JSON decoded, BookReader), must give the reference book (depth_recording.hpp,
// built independently) at every update id, or be marked not good - never a wrong book presented
// as good. Then the faults (dropped, duplicated, reordered, delayed frames; snapshots older and
// newer than the buffer; a lost connection; a start), the periodic snapshot a late reader starts
// from, and the REST side (the weight budget, 429/418 with Retry-After).
#include "binance-producer/src/depth_feed.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "cryptoflow/messages/schema.hpp"
#include "depth_recording.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::binance;
using test::RefBook;

namespace {

constexpr std::size_t kDepth = 1000;

struct Harness {
  explicit Harness(bool futures = false, std::chrono::milliseconds every = std::chrono::seconds(30))
      : books(
            {futures ? BookSync::Chain::futures : BookSync::Chain::spot, kDepth, every, "binance"},
            [this](const BookRecord& r) { topic.push_back(to_json(r)); },
            [this](const std::string& s) { asked.push_back(s); }, metrics) {}
  MetricsRegistry metrics;
  std::vector<std::string> topic;  // the records, as the topic holds them
  std::vector<std::string> asked;  // snapshot requests, in order
  DepthBooks books;
  void feed(const test::RecordedDepth& e, bool overlapping = false) {
    auto u = decode_depth_update(e.frame);
    REQUIRE(u);
    books.on_update(std::move(*u), 1, overlapping);
  }
  void answer(const std::string& symbol, const RefBook& b) { books.on_snapshot(symbol, {b.id, b.bids, b.asks}, 1); }
};

// A reader of one symbol's records from `from` on: every time its book is good, it must be the
// reference's book at its id.
struct Read {
  std::size_t good_updates = 0, mismatched = 0, snapshots = 0, resyncs = 0, broken = 0;
  bool good = false;
  std::int64_t id = 0;
  BookReader reader;
};
Read read(const std::vector<std::string>& topic, const std::string& symbol, const std::vector<RefBook>& ref,
          std::size_t from = 0) {
  std::map<std::int64_t, const RefBook*> by_id;
  for (const auto& b : ref) by_id[b.id] = &b;
  Read out;
  for (std::size_t i = from; i < topic.size(); ++i) {
    const auto d = decode_book_record(topic[i]);
    REQUIRE(d);
    if (d.value->symbol != symbol) continue;
    switch (out.reader.apply(*d.value)) {
      case BookReader::Result::snapshot: ++out.snapshots; break;
      case BookReader::Result::applied: ++out.good_updates; break;
      case BookReader::Result::resync: ++out.resyncs; break;
      case BookReader::Result::broken: ++out.broken; break;
      case BookReader::Result::ignored: break;
    }
    if (!out.reader.good()) continue;
    const auto it = by_id.find(out.reader.id());
    if (it == by_id.end() || !test::same_book(out.reader.book(), *it->second)) ++out.mismatched;
  }
  out.good = out.reader.good();
  out.id = out.reader.id();
  return out;
}

// The whole recording through DepthBooks, each recorded snapshot answered once the recorder had
// it (its receive time) and the symbol has asked.
void replay_recording(Harness& h, const test::DepthRecording& r) {
  std::map<std::string, bool> answered;
  for (const auto& e : r.events) {
    for (const auto& [symbol, snap] : r.snapshots)
      if (!answered[symbol] && snap.ts < e.ts && std::count(h.asked.begin(), h.asked.end(), symbol) > 0) {
        h.books.on_snapshot(symbol, {snap.last_update_id, snap.bids, snap.asks}, 1);
        answered[symbol] = true;
      }
    h.feed(e);
  }
}

const RefBook& at(const std::vector<RefBook>& ref, std::int64_t id) {
  for (const auto& b : ref)
    if (b.id == id) return b;
  FAIL("no reference book at " << id);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("books: the spot and futures recordings through the topic - every reader book equals the reference") {
  for (const char* prefix : {"BINANCE", "BINANCE_FUTURES"}) {
    INFO(prefix);
    const auto r = test::load_depth_recording(prefix);
    const auto ref = test::reference_books(r, kDepth);
    Harness h(r.futures);
    h.books.start({"NOPEUSDT"}, 1);  // a start: a resync record per symbol
    replay_recording(h, r);
    std::size_t applied = 0;
    for (const auto& [symbol, states] : ref) {
      INFO(symbol);
      const auto got = read(h.topic, symbol, states);
      CHECK(got.mismatched == 0);
      CHECK(got.snapshots == 1);
      CHECK(got.broken == 0);
      CHECK(got.good);
      CHECK(got.id == states.back().id);
      CHECK(test::same_book(got.reader.book(), states.back()));
      applied += got.good_updates;
    }
    // Every event after each snapshot's receive time was applied (the reference applies the
    // events after the snapshot's id: the buffered ones go into the snapshot record).
    CHECK(applied + 0 <= (r.futures ? 749u : 172u));
    CHECK(applied >= (r.futures ? 700u : 150u));
    CHECK(h.metrics.value("cryptoflow_binance_books_out_of_sync") == 1);  // NOPEUSDT: no event, no snapshot
    CHECK(decode_book_record(h.topic.front()).value->reason == "start");
  }
}

namespace {
struct Nkn {
  test::DepthRecording r = test::load_depth_recording("BINANCE");
  std::map<std::string, std::vector<RefBook>> ref = test::reference_books(r, kDepth);
  std::vector<test::RecordedDepth> after;  // NKNUSDT's events the snapshot does not contain
  Nkn() {
    const auto id = r.snapshots.at("NKNUSDT").last_update_id;
    for (const auto& e : r.events)
      if (e.symbol == "NKNUSDT" && e.final_id > id) after.push_back(e);
    REQUIRE(after.size() > 100);
  }
  const std::vector<RefBook>& states() const { return ref.at("NKNUSDT"); }
};
}  // namespace

TEST_CASE("books: a dropped, duplicated, reordered or delayed frame - a resync record, then the exact book again") {
  const Nkn n;
  for (const std::string fault : {"dropped", "duplicated", "reordered", "delayed"}) {
    INFO(fault);
    Harness h;
    h.feed(n.after[0]);
    REQUIRE(h.asked == std::vector<std::string>{"NKNUSDT"});
    h.answer("NKNUSDT", n.states().front());
    for (std::size_t i = 1; i < 50; ++i) h.feed(n.after[i]);
    // The fault at event 50.
    std::vector<std::size_t> order;
    if (fault == "dropped") order = {51, 52};
    if (fault == "duplicated") order = {50, 49, 51, 52};
    if (fault == "reordered") order = {51, 50, 52};
    if (fault == "delayed") order = {51, 52, 53, 50};
    for (const auto i : order) h.feed(n.after[i]);
    const auto mid = read(h.topic, "NKNUSDT", n.states());
    CHECK(mid.mismatched == 0);
    CHECK_FALSE(mid.good);  // marked, not presented as good
    CHECK(mid.resyncs == 1);
    CHECK(h.asked.size() == 2);  // a new snapshot asked for
    CHECK(h.metrics.value("cryptoflow_binance_book_resyncs_total", {{"reason", "gap"}}) == 1);
    // The exchange's snapshot a few events later; the rest of the stream then follows it.
    for (std::size_t i = 53; i < 60; ++i) h.feed(n.after[i]);
    h.answer("NKNUSDT", at(n.states(), n.after[56].final_id));
    for (std::size_t i = 60; i < n.after.size(); ++i) h.feed(n.after[i]);
    const auto end = read(h.topic, "NKNUSDT", n.states());
    CHECK(end.mismatched == 0);
    CHECK(end.good);
    CHECK(end.snapshots == 2);
    CHECK(test::same_book(end.reader.book(), n.states().back()));
  }
}

TEST_CASE("books: a snapshot older than the buffer is fetched again - one newer than the stream is used") {
  const Nkn n;
  Harness h;
  for (std::size_t i = 20; i < 30; ++i) h.feed(n.after[i]);
  h.answer("NKNUSDT", n.states().front());  // older than event 20's U: refused
  CHECK(h.metrics.value("cryptoflow_binance_depth_stale_snapshots_total") == 1);
  CHECK(h.asked.size() == 2);
  CHECK_FALSE(read(h.topic, "NKNUSDT", n.states()).good);
  h.answer("NKNUSDT", at(n.states(), n.after[33].final_id));  // newer than all buffered
  CHECK(read(h.topic, "NKNUSDT", n.states()).good);
  for (std::size_t i = 30; i < n.after.size(); ++i) h.feed(n.after[i]);  // 30-33 are in it
  const auto end = read(h.topic, "NKNUSDT", n.states());
  CHECK(end.mismatched == 0);
  CHECK(end.good);
  CHECK(test::same_book(end.reader.book(), n.states().back()));
}

TEST_CASE("books: a lost connection and a restart are resync records - an overlap's repeats are not") {
  const Nkn n;
  Harness h;
  h.feed(n.after[0]);
  h.answer("NKNUSDT", n.states().front());
  for (std::size_t i = 1; i < 40; ++i) h.feed(n.after[i]);
  // A rotation: the replacement connection delivers events 30-45, the old one had up to 39.
  for (std::size_t i = 30; i < 46; ++i) h.feed(n.after[i], true);
  CHECK(h.metrics.value("cryptoflow_binance_depth_repeats_total") == 10);
  CHECK(read(h.topic, "NKNUSDT", n.states()).good);
  CHECK(read(h.topic, "NKNUSDT", n.states()).mismatched == 0);
  // The connection is lost; 46-47 are missed; the next connection starts at 48.
  h.books.on_connection_lost({"NKNUSDT"}, 2);
  auto mid = read(h.topic, "NKNUSDT", n.states());
  CHECK_FALSE(mid.good);
  CHECK(decode_book_record(h.topic.back()).value->reason == "connection");
  for (std::size_t i = 48; i < 55; ++i) h.feed(n.after[i]);
  CHECK(h.asked.size() == 2);
  h.answer("NKNUSDT", at(n.states(), n.after[50].final_id));
  for (std::size_t i = 55; i < n.after.size(); ++i) h.feed(n.after[i]);
  auto end = read(h.topic, "NKNUSDT", n.states());
  CHECK(end.good);
  CHECK(end.mismatched == 0);
  // A restart of the producer (kill -9): its first record of the symbol is a resync; a reader
  // holding the old run's book marks it not good until the new run's snapshot.
  Harness again;
  again.books.start({"NKNUSDT"}, 3);
  auto both = h.topic;
  both.insert(both.end(), again.topic.begin(), again.topic.end());
  CHECK_FALSE(read(both, "NKNUSDT", n.states()).good);
}

TEST_CASE("books: a reader starting at a periodic snapshot has the exact book from there on") {
  const Nkn n;
  Harness h(false, std::chrono::seconds(30));
  h.feed(n.after[0]);
  h.books.on_snapshot("NKNUSDT", {n.states().front().id, n.states().front().bids, n.states().front().asks}, 1'000);
  for (std::size_t i = 1; i < 60; ++i) h.feed(n.after[i]);
  h.books.tick(20'000);  // not yet
  const auto before = h.topic.size();
  h.books.tick(31'000);
  REQUIRE(h.topic.size() == before + 1);
  const auto snap = decode_book_record(h.topic.back());
  CHECK(snap.value->kind == BookRecord::Kind::snapshot);
  CHECK(snap.value->id == n.after[59].final_id);
  for (std::size_t i = 60; i < n.after.size(); ++i) h.feed(n.after[i]);
  const auto late = read(h.topic, "NKNUSDT", n.states(), before);  // nothing before the snapshot
  CHECK(late.snapshots == 1);
  CHECK(late.mismatched == 0);
  CHECK(late.good_updates == n.after.size() - 60);
  CHECK(test::same_book(late.reader.book(), n.states().back()));
  // Records are what the schema says (each kind), and their JSON round-trips.
  h.books.on_connection_lost({"NKNUSDT"}, 40'000);
  const SchemaValidator snapshot(MessageKind::book_snapshot), update(MessageKind::book_update),
      resync(MessageKind::book_resync);
  std::set<BookRecord::Kind> kinds;
  for (const auto& json : h.topic) {
    const auto d = decode_book_record(json);
    REQUIRE(d);
    CHECK(to_json(*d.value) == json);
    kinds.insert(d.value->kind);
    const auto& v = d.value->kind == BookRecord::Kind::snapshot ? snapshot
                    : d.value->kind == BookRecord::Kind::update ? update
                                                                : resync;
    CHECK(v.validate(json).empty());
  }
  CHECK(kinds.size() == 3);
}

TEST_CASE("books: snapshots within the REST weight budget - 429 and 418 wait out Retry-After") {
  std::int64_t now = 1'000'000;
  std::vector<std::int64_t> calls;
  std::vector<int> statuses{429, 418, 500, 200};
  const RestGet get = [&](const std::string& url) {
    calls.push_back(now);
    CHECK(url == "http://x/api/v3/depth?symbol=NKNUSDT&limit=1000");
    const int status = statuses[calls.size() - 1];
    RestAnswer a{status, status == 200 ? R"({"lastUpdateId":7,"bids":[["1","2"]],"asks":[]})" : "", {}};
    if (status == 429) a.retry_after = std::chrono::seconds(7);
    return a;
  };
  WeightBudget budget(3000);
  const auto r = fetch_depth_snapshot(
      get, "http://x/api/v3", "NKNUSDT", DepthOptions{}, budget, [&] { return now; },
      [&](std::chrono::milliseconds d) { now += d.count(); }, [] { return false; });
  REQUIRE(r.snapshot);
  CHECK(r.snapshot->last_update_id == 7);
  CHECK(r.attempts == 4);
  CHECK(r.throttled == 2);
  REQUIRE(calls.size() == 4);
  CHECK(calls[1] - calls[0] == 7'000);   // Retry-After
  CHECK(calls[2] - calls[1] == 60'000);  // 418 without one: a minute
  CHECK(calls[3] - calls[2] == 1'000);   // a 500: backoff

  // A symbol the exchange keeps refusing (here 400) is given up after three calls, so the REST
  // thread goes on with the other work; the book asks again with its next event.
  calls.clear();
  statuses.assign(10, 400);
  const auto refused = fetch_depth_snapshot(
      get, "http://x/api/v3", "NKNUSDT", DepthOptions{}, budget, [&] { return now; },
      [&](std::chrono::milliseconds d) { now += d.count(); }, [] { return false; });
  CHECK_FALSE(refused.snapshot);
  CHECK(refused.attempts == 3);
  CHECK(refused.error.find("HTTP 400") != std::string::npos);
  const Nkn n;
  Harness h;
  h.feed(n.after[0]);
  h.books.on_snapshot_failed("NKNUSDT", refused.error);
  CHECK(h.metrics.value("cryptoflow_binance_depth_snapshot_failures_total") == 1);
  h.feed(n.after[1]);
  CHECK(h.asked.size() == 2);

  // Over a simulated ten minutes of snapshot calls as fast as the budget lets them go, no
  // 60-second window holds more than the budget's weight.
  WeightBudget b(3000);
  std::vector<std::pair<std::int64_t, int>> sent;
  std::int64_t t = 0;
  while (t < 600'000) {
    const int w = depth_weight(sent.size() % 3 == 0 ? 5000 : 1000);
    t = b.next_allowed(t, w);
    b.record(t, w);
    sent.emplace_back(t, w);
  }
  int worst = 0;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    int sum = 0;
    for (std::size_t k = i; k < sent.size() && sent[k].first < sent[i].first + 60'000; ++k) sum += sent[k].second;
    worst = std::max(worst, sum);
  }
  CHECK(worst <= 3000);
  CHECK(worst >= 2700);  // and the budget is used
  CHECK(depth_weight(100) == 5);
  CHECK(depth_weight(500) == 25);
  CHECK(depth_weight(1000) == 50);
  CHECK(depth_weight(5000) == 250);
}
