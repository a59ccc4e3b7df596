// The binance-producer binary in live mode (no REPLAY_FILE) against the fake Binance over TLS:
// the environment is wired as documented, /readyz follows the connection, trades reach
// crypto.trades, and SIGTERM flushes and exits 0. A kill -9 and restart loses no trade; two
// producers side by side give the stream-processor's candles of one.
#include <catch2/catch.hpp>
#include <csignal>
#include <set>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/net/http.hpp"
#include "embedded_broker.hpp"
#include "fake_exchange.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

// crypto.trades holds the 10,000 recorded TRXUSDT trades, each once and in id order.
void check_every_trade_once_in_order(const std::string& bootstrap) {
  kafka::Properties p;
  p.set("bootstrap.servers", bootstrap).set("fetch.wait.max.ms", "5");
  kafka::KafkaConsumer c(p, "trades-reader", {"crypto.trades"});
  std::vector<std::int64_t> ids;
  eventually(
      [&] {
        while (auto m = c.poll(std::chrono::milliseconds(20))) {
          const auto t = decode_trade(m->value);
          if (t && t.value->symbol == "TRXUSDT") ids.push_back(t.value->trade_id);
        }
        return ids.size() >= 10000;
      },
      30s, 0ms);
  REQUIRE(ids.size() == 10000);
  for (std::size_t i = 0; i < ids.size(); ++i) REQUIRE(ids[i] == 348656870 + static_cast<std::int64_t>(i));
}

}  // namespace

TEST_CASE("binance-producer live over wss: ready while connected - every trade once - SIGTERM exits 0") {
  FakeExchangeOptions fo;
  fo.tls = true;
  fo.frames = trx_frames();
  fo.frames_per_second = 2000;
  fo.drop_after = 4000;
  fo.ping_every = 500ms;
  fo.rest_trades = trx_trades();
  auto ex = std::make_unique<FakeExchange>(fo);

  TempDir dir;
  Process broker({binary("dev-broker"), "--partitions", "1"}, {}, (dir.path() / "broker.log").string());
  const auto bootstrap = broker.read_line(30s);
  REQUIRE(bootstrap.has_value());
  const int port = free_port();
  Process producer({binary("binance-producer")},
                   {{"KAFKA_BOOTSTRAP_SERVERS", *bootstrap},
                    {"ADMIN_PORT", std::to_string(port)},
                    {"LOG_FORMAT", "text"},
                    {"BINANCE_SYMBOLS", "TRXUSDT"},
                    {"BINANCE_WS_URL", ex->ws_url()},
                    {"BINANCE_REST_URL", ex->rest_url()},
                    {"BINANCE_RECONNECT_MIN", "200ms"},
                    {"SSL_CERT_FILE", ex->ca_file()}},
                   (dir.path() / "producer.log").string());
  HttpClient http;
  const auto ready = [&] { return http.get("http://127.0.0.1:" + std::to_string(port) + "/readyz").status; };
  INFO("producer log:\n" << read_file((dir.path() / "producer.log").string()));
  REQUIRE(eventually([&] { return ready() == 200; }, 30s));
  REQUIRE(eventually([&] { return ex->finished(); }, 30s));
  // The exchange has sent everything; the producer may still be reading (sanitizers, a busy machine).
  CHECK(eventually([&] { return metric_of(http, port, "cryptoflow_binance_trades_total") == 10000; }, 30s));
  const auto metrics = http.get("http://127.0.0.1:" + std::to_string(port) + "/metrics").body;
  CHECK(metrics.find("cryptoflow_binance_reconnects_total 1\n") != std::string::npos);
  CHECK(metrics.find("cryptoflow_binance_unrecoverable_total 0\n") != std::string::npos);
  ex.reset();  // the exchange goes away: not ready any more
  CHECK(eventually([&] { return ready() == 503; }, 20s));
  CHECK(producer.terminate() == 0);

  check_every_trade_once_in_order(*bootstrap);
  CHECK(broker.terminate() == 0);
}

TEST_CASE("binance-producer SIGKILL then restart - resumes at the topic end - no id lost") {
  FakeExchangeOptions fo;
  fo.frames = trx_frames();
  fo.frames_per_second = 500;  // 20 s of trades: time for two starts, slow (sanitizers) or not
  fo.rest_trades = trx_trades();
  FakeExchange ex(fo);

  TempDir dir;
  Process broker({binary("dev-broker"), "--partitions", "3"}, {}, (dir.path() / "broker.log").string());
  const auto bootstrap = broker.read_line(30s);
  REQUIRE(bootstrap.has_value());
  const int port = free_port();
  const std::map<std::string, std::string> env{{"KAFKA_BOOTSTRAP_SERVERS", *bootstrap},
                                               {"ADMIN_PORT", std::to_string(port)},
                                               {"LOG_FORMAT", "text"},
                                               {"BINANCE_SYMBOLS", "trxusdt,btcusdt"},
                                               {"BINANCE_WS_URL", ex.ws_url()},
                                               {"BINANCE_REST_URL", ex.rest_url()},
                                               // the recorded trades keep their 2025 times
                                               {"BINANCE_RESUME_LOOKBACK", "3650d"}};
  HttpClient http;
  const auto published = [&] { return metric_of(http, port, "cryptoflow_binance_trades_total"); };
  const auto log1 = (dir.path() / "producer1.log").string(), log2 = (dir.path() / "producer2.log").string();
  {
    Process first({binary("binance-producer")}, env, log1);
    REQUIRE(eventually([&] { return published() > 2'000; }, 30s));
    first.signal(SIGKILL);  // whatever librdkafka still held is gone with it
    REQUIRE(first.wait(10s).has_value());
  }
  std::this_thread::sleep_for(1500ms);  // the exchange trades on: ~1,500 ids the second must backfill
  Process second({binary("binance-producer")}, env, log2);
  REQUIRE(eventually([&] { return ex.finished(); }, 60s));
  CHECK(eventually([&] { return read_file(log2).find("resuming after the topic's last trade") != std::string::npos; },
                   10s));
  REQUIRE(eventually([&] { return published() > 0; }, 30s));
  CHECK(second.terminate() == 0);
  INFO("first producer log:\n" << read_file(log1) << "\nsecond producer log:\n" << read_file(log2));
  CHECK(read_file(log2).find("trades lost") == std::string::npos);

  check_every_trade_once_in_order(*bootstrap);
  CHECK(broker.terminate() == 0);
}

namespace {

struct PipelineRun {
  std::map<std::string, std::string> finals;  // symbol:interval:start -> the final candle's JSON
  double trades_in_topic = 0, duplicates_dropped = 0;
};

// The fake exchange streams the 10,000 recorded TRXUSDT trades at `per_second` to `producers`
// binance-producers (the second starts once the first has published 500), into a
// stream-processor; returns its final candles once it has read every record of crypto.trades.
PipelineRun run_pipeline(int producers, int per_second) {
  FakeExchangeOptions fo;
  fo.frames = trx_frames();
  fo.frames_per_second = per_second;
  fo.rest_trades = trx_trades();
  FakeExchange ex(fo);
  TempDir dir;
  Process broker({binary("dev-broker"), "--partitions", "1"}, {}, (dir.path() / "broker.log").string());
  const auto bootstrap = broker.read_line(30s);
  REQUIRE(bootstrap.has_value());
  HttpClient http;
  const int sp_port = free_port();
  Process processor({binary("stream-processor")},
                    {{"KAFKA_BOOTSTRAP_SERVERS", *bootstrap},
                     {"KAFKA_FETCH_WAIT_MAX_MS", "5"},
                     {"LOG_FORMAT", "text"},
                     {"ADMIN_PORT", std::to_string(sp_port)},
                     {"CANDLE_INTERVALS", "1m,5m"},
                     {"TRANSACTIONAL_ID", "sp-0"}},
                    (dir.path() / "processor.log").string());
  std::vector<std::unique_ptr<Process>> running;
  std::vector<int> ports;
  for (int i = 0; i < producers; ++i) {
    if (i > 0)
      REQUIRE(eventually([&] { return metric_of(http, ports[0], "cryptoflow_binance_trades_total") > 500; }, 30s));
    ports.push_back(free_port());
    running.push_back(
        std::make_unique<Process>(std::vector<std::string>{binary("binance-producer")},
                                  std::map<std::string, std::string>{{"KAFKA_BOOTSTRAP_SERVERS", *bootstrap},
                                                                     {"ADMIN_PORT", std::to_string(ports.back())},
                                                                     {"LOG_FORMAT", "text"},
                                                                     {"BINANCE_SYMBOLS", "trxusdt"},
                                                                     {"BINANCE_WS_URL", ex.ws_url()},
                                                                     {"BINANCE_REST_URL", ex.rest_url()},
                                                                     {"BINANCE_RESUME_LOOKBACK", "3650d"}},
                                  (dir.path() / ("producer" + std::to_string(i) + ".log")).string()));
  }
  REQUIRE(eventually([&] { return ex.finished(); }, 120s));
  // The first producer saw every frame; it may still be reading the last ones.
  REQUIRE(eventually([&] { return metric_of(http, ports[0], "cryptoflow_binance_trades_total") >= 10000; }, 60s));
  std::this_thread::sleep_for(1s);  // the others read on a little (they only add repeats)
  for (auto& p : running) CHECK(p->terminate() == 0);
  PipelineRun out;
  {
    kafka::Properties p;
    p.set("bootstrap.servers", *bootstrap);
    kafka::KafkaReader reader(p);
    out.trades_in_topic = static_cast<double>(reader.watermarks({"crypto.trades", 0}, 10s).high);
  }
  REQUIRE(eventually(
      [&] { return metric_of(http, sp_port, "cryptoflow_processor_trades_in_total") == out.trades_in_topic; }, 60s));
  out.duplicates_dropped = metric_of(http, sp_port, "cryptoflow_processor_duplicate_trades_total");
  CHECK(processor.terminate() == 0);
  kafka::Properties p;
  p.set("bootstrap.servers", *bootstrap).set("fetch.wait.max.ms", "5");
  kafka::KafkaConsumer c(p, "candles-reader", {"crypto.candles"});
  eventually(
      [&] {
        while (auto m = c.poll(std::chrono::milliseconds(20))) {
          const auto candle = decode_candle(m->value);
          REQUIRE(candle);
          if (candle.value->final)
            out.finals[candle.value->symbol + ":" + candle.value->interval + ":" +
                       std::to_string(candle.value->start)] = std::string(m->value);
        }
        return false;  // read for the whole time: nothing says the last one arrived
      },
      5s, 0ms);
  CHECK(broker.terminate() == 0);
  return out;
}

}  // namespace

TEST_CASE("Two binance-producers side by side through the whole stream - the same candles as one") {
  const auto one = run_pipeline(1, 2000);
  const auto two = run_pipeline(2, 500);  // 10,000 trades in 20 s: both read most of them
  CHECK(one.trades_in_topic == 10000);
  CHECK(one.duplicates_dropped == 0);
  CHECK(two.trades_in_topic > 12000);                            // most trades went in twice ...
  CHECK(two.duplicates_dropped == two.trades_in_topic - 10000);  // ... and every repeat was dropped
  REQUIRE(one.finals.size() > 50);                               // 47 1m and 9 5m windows closed
  CHECK(two.finals == one.finals);
}
