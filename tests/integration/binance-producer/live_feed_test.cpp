// binance-producer's live mode against a fake Binance on loopback (a real WebSocket server,
// plain and TLS, plus the REST backfill endpoints) and the embedded Kafka broker. The exchange
// replays the recorded TRXUSDT trade stream (10,000 trades with consecutive ids); every test
// reads crypto.trades back and checks each id arrived exactly once and in order.
#include "binance-producer/src/live_feed.hpp"

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <set>
#include <thread>

#include "binance-producer/src/replay.hpp"
#include "binance-producer/src/service.hpp"
#include "cryptoflow/net/http.hpp"
#include "dev-broker/src/dev_broker.hpp"
#include "embedded_broker.hpp"
#include "fake_exchange.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

struct Run {
  DevBroker broker{{1, 0, 1}, {"crypto.trades"}};
  MetricsRegistry metrics;
  // As the service makes it; the test's 1.5 s message timeout is what it must survive.
  kafka::KafkaProducer producer{binance::producer_properties(props_for(broker).set("message.timeout.ms", "1500")),
                                metrics};
  binance::Publisher publisher{producer, "crypto.trades", metrics};
  HttpClient http;
  std::unique_ptr<binance::LiveFeed> feed;
  std::atomic<bool> stop{false};
  std::thread thread;

  Run(const FakeExchange& ex, binance::LiveOptions o) {
    if (o.urls.empty()) o.urls = binance::stream_urls(ex.ws_url(), {"trxusdt"}, "trade");
    o.rest_base = ex.rest_url();
    feed = std::make_unique<binance::LiveFeed>(o, publisher, metrics, binance::rest_over(http));
    thread = std::thread([this] { feed->run([this] { return stop.load(); }); });
  }
  ~Run() {
    stop = true;
    thread.join();
  }
  // Every trade id in crypto.trades, in order. The feed runs on until the expected count is
  // there (or 60 s passed): on a loaded machine the exchange can be finished while the feed
  // still reads its last frames. Then it stops, the producer flushes, and whatever else arrives
  // in the next second (a repeat, a trade past the end) is read too.
  std::vector<std::int64_t> read_ids(std::size_t expected) {
    kafka::KafkaConsumer c(props_for(broker), "live-reader", {"crypto.trades"});
    std::vector<std::int64_t> ids;
    const auto drain = [&] {
      while (auto m = c.poll(std::chrono::milliseconds(20))) {
        auto t = decode_trade(m->value);
        REQUIRE(t);
        CHECK(t.value->trade_time < 2'000'000'000'000);  // microseconds became milliseconds
        ids.push_back(t.value->trade_id);
      }
    };
    eventually(
        [&] {
          drain();
          return ids.size() >= expected;
        },
        60s, 0ms);
    stop = true;
    thread.join();
    thread = std::thread([] {});
    REQUIRE_NOTHROW(producer.flush(10s));
    for (const auto until = std::chrono::steady_clock::now() + 1s; std::chrono::steady_clock::now() < until;) drain();
    return ids;
  }
  std::uint64_t metric(const char* name) { return static_cast<std::uint64_t>(metrics.value(name)); }
};

std::vector<std::int64_t> expected_ids() {
  std::vector<std::int64_t> ids;
  for (const auto& t : trx_trades()) ids.push_back(t.trade_id);
  return ids;
}

// "" when got == want; else what differs (sizes, first difference, duplicates).
std::string difference(const std::vector<std::int64_t>& got, const std::vector<std::int64_t>& want) {
  if (got == want) return {};
  std::string out = "got " + std::to_string(got.size()) + " ids, want " + std::to_string(want.size());
  for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i)
    if (got[i] != want[i]) {
      out += "; first difference at " + std::to_string(i) + ": got " + std::to_string(got[i]) + ", want " +
             std::to_string(want[i]);
      break;
    }
  std::set<std::int64_t> seen;
  std::size_t dups = 0;
  for (auto id : got) dups += seen.insert(id).second ? 0 : 1;
  return out + "; " + std::to_string(dups) + " duplicates";
}

binance::LiveOptions fast_options() {
  binance::LiveOptions o;
  o.reconnect_min = 100ms;
  o.reconnect_max = 2s;
  return o;
}

}  // namespace

TEST_CASE("live: a connection dropped mid-stream is backfilled - every trade once and in order - pings answered") {
  FakeExchangeOptions fo;
  fo.frames = trx_frames();
  fo.frames_per_second = 2500;
  fo.drop_after = 3000;
  fo.ping_every = 300ms;
  fo.rest_trades = trx_trades();
  FakeExchange ex(fo);
  Run run(ex, fast_options());
  REQUIRE(eventually([&] { return ex.finished(); }, 30s));
  const auto want = expected_ids();
  const auto ids = run.read_ids(want.size());
  INFO(difference(ids, want));
  CHECK(difference(ids, want).empty());
  CHECK(run.metric("cryptoflow_binance_gaps_total") >= 1);
  CHECK(run.metric("cryptoflow_binance_backfilled_total") > 0);
  CHECK(run.metric("cryptoflow_binance_unrecoverable_total") == 0);
  CHECK(run.metric("cryptoflow_binance_reconnects_total") == 1);
  CHECK(ex.websocket_sessions() == 2);
  CHECK(ex.targets().front() == "/stream?streams=trxusdt@trade");
  CHECK_FALSE(ex.rest_requests().empty());
  CHECK(ex.rest_requests().front().target.rfind("/api/v3/historicalTrades?symbol=TRXUSDT&fromId=", 0) == 0);
  // Every ping the server sent before the end got its payload back.
  const auto pings = ex.pings_sent();
  const auto pongs = ex.pongs_received();
  REQUIRE(pings.size() >= 10);
  for (std::size_t i = 0; i + 1 < pings.size(); ++i)
    CHECK(std::find(pongs.begin(), pongs.end(), pings[i]) != pongs.end());
  CHECK(run.metric("cryptoflow_binance_pings_total") >= pings.size() - 1);
}

TEST_CASE("live: over TLS a shortened 24-hour rotation and a serverShutdown lose and duplicate nothing") {
  FakeExchangeOptions fo;
  fo.tls = true;
  fo.frames = trx_frames();
  fo.frames.insert(fo.frames.begin() + 6000, R"({"e":"serverShutdown","E":1741046401272})");
  fo.frames_per_second = 2500;
  fo.rest_trades = trx_trades();
  FakeExchange ex(fo);
  setenv("SSL_CERT_FILE", ex.ca_file().c_str(), 1);  // trust the exchange's certificate
  auto o = fast_options();
  o.rotate_after = 1200ms;
  o.overlap = 300ms;
  Run run(ex, o);
  REQUIRE(eventually([&] { return ex.finished(); }, 30s));
  const auto want = expected_ids();
  const auto ids = run.read_ids(want.size());
  unsetenv("SSL_CERT_FILE");
  INFO(difference(ids, want));
  CHECK(difference(ids, want).empty());
  CHECK(run.metric("cryptoflow_binance_rotations_total") >= 3);
  CHECK(ex.websocket_sessions() >= 4);
  CHECK(run.metric("cryptoflow_binance_reconnects_total") == 0);
  CHECK(run.metric("cryptoflow_binance_unrecoverable_total") == 0);
  CHECK(run.metric("cryptoflow_binance_duplicates_dropped_total") > 0);  // the overlaps were real
}

TEST_CASE("live: a server certificate the producer does not trust is refused") {
  FakeExchangeOptions fo;
  fo.tls = true;
  fo.frames = trx_frames();
  FakeExchange ex(fo);  // SSL_CERT_FILE not set: the system store does not know this certificate
  Run run(ex, fast_options());
  REQUIRE(eventually([&] { return run.metric("cryptoflow_binance_reconnects_total") >= 2; }, 20s));
  CHECK(run.metric("cryptoflow_binance_trades_total") == 0);
  CHECK_FALSE(run.feed->connected());
}

TEST_CASE("live: refused connections are retried with growing delays") {
  FakeExchangeOptions fo;
  fo.frames = trx_frames();
  fo.frames.resize(200);
  fo.refuse_first = 5;
  fo.rest_trades = trx_trades();
  FakeExchange ex(fo);
  Run run(ex, fast_options());
  REQUIRE(eventually([&] { return ex.websocket_sessions() == 1; }, 30s));
  const auto at = ex.tcp_accepts();
  REQUIRE(at.size() == 6);
  std::vector<double> gaps;
  for (std::size_t i = 1; i < at.size(); ++i)
    gaps.push_back(std::chrono::duration<double, std::milli>(at[i] - at[i - 1]).count());
  INFO("delays (ms): " << gaps[0] << " " << gaps[1] << " " << gaps[2] << " " << gaps[3] << " " << gaps[4]);
  for (std::size_t i = 1; i < gaps.size(); ++i) CHECK(gaps[i] >= gaps[i - 1] * 0.95);
  CHECK(gaps.back() >= 4 * gaps.front());
  CHECK(gaps.front() >= 45);  // at least half of reconnect_min
  CHECK(run.metric("cryptoflow_binance_reconnects_total") == 5);
}

TEST_CASE("live: malformed - binary - oversized and unknown frames are counted and survived") {
  FakeExchangeOptions fo;
  fo.frames = trx_frames();
  fo.frames.resize(3000);
  fo.frames.insert(fo.frames.begin() + 100, "{\"stream\":\"trxusdt@trade\",\"data\":{\"e\":\"trade\",");  // cut
  fo.frames.insert(fo.frames.begin() + 200, std::string(kBinaryMarker) + "\x00\x01\x02 binary");
  fo.frames.insert(fo.frames.begin() + 300, R"({"e":"trade","s":"TRXUSDT","t":"x","p":1})");     // wrong types
  fo.frames.insert(fo.frames.begin() + 400, R"({"e":"depthUpdate","s":"TRXUSDT"})");             // not a trade
  fo.frames.insert(fo.frames.begin() + 500, "{\"pad\":\"" + std::string(200'000, 'x') + "\"}");  // oversized
  // Binance's own non-trade frames (depth, kline, bookTicker), recorded by cryptofeed, in between.
  binance::ReplayFile recorded(std::string(CRYPTOFLOW_FIXTURES_DIR) + "/cryptofeed/BINANCE.ws.1.0");
  std::size_t other = 0, at = 1000;
  while (auto line = recorded.next())
    if (line->frame.find("aggTrade") == std::string::npos && at < fo.frames.size()) {
      fo.frames.insert(fo.frames.begin() + static_cast<std::ptrdiff_t>(at), line->frame);
      at += 11;
      ++other;
    }
  REQUIRE(other > 100);
  fo.frames_per_second = 2500;
  fo.rest_trades = trx_trades();
  FakeExchange ex(fo);
  Run run(ex, fast_options());
  REQUIRE(eventually([&] { return ex.finished(); }, 30s));
  // The last frames may be ones that are not trades: read before the feed stops.
  REQUIRE(eventually([&] { return run.metric("cryptoflow_binance_ignored_frames_total") >= 1 + other; }, 30s));
  auto want = expected_ids();
  want.resize(3000);
  const auto ids = run.read_ids(want.size());
  INFO(difference(ids, want));
  CHECK(difference(ids, want).empty());
  CHECK(run.metrics.value("cryptoflow_binance_decode_errors_total", {{"kind", "malformed"}}) == 2);  // cut, binary
  CHECK(run.metrics.value("cryptoflow_binance_decode_errors_total", {{"kind", "invalid_trade"}}) == 1);
  CHECK(run.metric("cryptoflow_binance_binary_frames_total") == 1);
  CHECK(run.metric("cryptoflow_binance_ignored_frames_total") == 1 + other);
  CHECK(run.metric("cryptoflow_binance_reconnects_total") == 1);  // the oversized frame closed it (1009)
  CHECK(run.metric("cryptoflow_binance_unrecoverable_total") == 0);
}

TEST_CASE("live: Kafka away for longer than the message timeout - no trade id lost", "[long]") {
  FakeExchangeOptions fo;
  fo.frames = trx_frames();
  fo.frames_per_second = 1000;
  fo.rest_trades = trx_trades();
  FakeExchange ex(fo);
  Run run(ex, fast_options());
  REQUIRE(eventually([&] { return run.metric("cryptoflow_kafka_messages_delivered_total") > 1'000; }, 30s));
  run.broker.cluster().set_broker_down(1, true);
  std::this_thread::sleep_for(5s);  // more than three times the 1.5 s message timeout
  run.broker.cluster().set_broker_down(1, false);
  REQUIRE(eventually([&] { return ex.finished(); }, 30s));
  const auto want = expected_ids();
  const auto ids = run.read_ids(want.size());
  INFO(difference(ids, want));
  CHECK(difference(ids, want).empty());
  CHECK(run.metric("cryptoflow_kafka_delivery_errors_total") == 0);
  CHECK(run.metric("cryptoflow_binance_unrecoverable_total") == 0);
}

TEST_CASE("live: a frame with a far-ahead trade id is dropped - it silences nothing") {
  FakeExchangeOptions fo;
  fo.frames = trx_frames();
  auto bogus = fo.frames[3000];
  const auto at = bogus.find("\"t\":");
  REQUIRE(at != std::string::npos);
  bogus.insert(at + 4, "9000");  // id 9000348659870: far beyond anything the exchange has
  fo.frames.insert(fo.frames.begin() + 3001, bogus);
  fo.frames_per_second = 2500;
  fo.rest_trades = trx_trades();
  FakeExchange ex(fo);
  Run run(ex, fast_options());
  REQUIRE(eventually([&] { return ex.finished(); }, 30s));
  const auto want = expected_ids();
  const auto ids = run.read_ids(want.size());
  INFO(difference(ids, want));
  CHECK(difference(ids, want).empty());
  CHECK(run.metric("cryptoflow_binance_implausible_ids_total") == 1);
  CHECK(run.metric("cryptoflow_binance_unrecoverable_total") == 0);
  CHECK(run.metric("cryptoflow_binance_duplicates_dropped_total") == 0);
}

TEST_CASE("live: a far-ahead trade id that REST cannot check is overcome by the next real trade") {
  FakeExchangeOptions fo;
  fo.frames = trx_frames();
  fo.frames.resize(4000);
  auto bogus = fo.frames[3000];
  bogus.insert(bogus.find("\"t\":") + 4, "9000");
  fo.frames.insert(fo.frames.begin() + 3001, bogus);
  fo.frames_per_second = 2500;
  fo.rest_status = 503;  // REST down: the backfill of the jump gets no answer
  FakeExchange ex(fo);
  auto o = fast_options();
  o.backfill_max_pages = 1;
  Run run(ex, o);
  REQUIRE(eventually([&] { return ex.finished(); }, 30s));
  // The feed reads on once the backfill's retries (3.5 s) are over.
  REQUIRE(eventually([&] { return run.metric("cryptoflow_binance_trades_total") >= 4001; }, 30s));
  auto want = expected_ids();
  want.resize(4000);
  want.insert(want.begin() + 3001, 9000348659870);  // published: nothing could tell it was bogus
  const auto ids = run.read_ids(want.size());
  INFO(difference(ids, want));
  CHECK(difference(ids, want).empty());
  CHECK(run.metric("cryptoflow_binance_id_resyncs_total") == 1);
  CHECK(run.metric("cryptoflow_binance_implausible_ids_total") == 0);
}

TEST_CASE("live: while a gap is backfilled the connection is read - held trades follow in order") {
  FakeExchangeOptions fo;
  fo.frames = trx_frames();
  fo.frames_per_second = 2500;
  fo.drop_after = 3000;
  fo.rest_trades = trx_trades();
  fo.rest_status = 429;  // the backfill's first three calls wait 0.5 s, 1 s and 2 s
  fo.rest_failures = 3;
  FakeExchange ex(fo);
  Run run(ex, fast_options());
  REQUIRE(eventually([&] { return run.metrics.value("cryptoflow_binance_symbols_behind") == 1; }, 30s, 1ms));
  const auto frames_then = run.metric("cryptoflow_binance_frames_total");
  // Live frames keep coming in while the symbol is behind (the old code read nothing until the
  // backfill was over).
  CHECK(eventually(
      [&] {
        return run.metrics.value("cryptoflow_binance_symbols_behind") == 1 &&
               run.metric("cryptoflow_binance_frames_total") > frames_then + 500;
      },
      20s, 1ms));
  CHECK(run.metrics.value("cryptoflow_binance_held_trades") > 0);
  REQUIRE(
      eventually([&] { return ex.finished() && run.metrics.value("cryptoflow_binance_symbols_behind") == 0; }, 30s));
  const auto want = expected_ids();
  const auto ids = run.read_ids(want.size());
  INFO(difference(ids, want));
  CHECK(difference(ids, want).empty());
  CHECK(run.metric("cryptoflow_binance_unrecoverable_total") == 0);
  CHECK(run.metrics.value("cryptoflow_binance_held_trades") == 0);
}

TEST_CASE("live: a stop during a backfill's Retry-After wait returns at once") {
  FakeExchangeOptions fo;
  fo.frames = trx_frames();
  fo.frames_per_second = 2500;
  fo.drop_after = 3000;
  fo.rest_trades = trx_trades();
  fo.rest_status = 418;  // banned: Retry-After 50 s
  fo.rest_retry_after = "50";
  FakeExchange ex(fo);
  Run run(ex, fast_options());
  REQUIRE(eventually([&] { return run.metrics.value("cryptoflow_binance_symbols_behind") == 1; }, 30s, 1ms));
  std::this_thread::sleep_for(500ms);  // in the wait
  const auto t0 = std::chrono::steady_clock::now();
  run.stop = true;
  run.thread.join();
  run.thread = std::thread([] {});
  const auto took = std::chrono::steady_clock::now() - t0;
  // The close handshakes get up to 2 s; a wait that ignored the stop would take 50 s.
  CHECK(took < 10s);
}
