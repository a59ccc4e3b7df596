// The binance-producer binary in live mode (no REPLAY_FILE) against the fake Binance over TLS:
// the environment is wired as documented, /readyz follows the connection, trades reach
// crypto.trades, and SIGTERM flushes and exits 0.
#include <catch2/catch.hpp>
#include <csignal>
#include <set>

#include "cryptoflow/http.hpp"
#include "cryptoflow/kafka.hpp"
#include "embedded_broker.hpp"
#include "fake_exchange.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

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
  std::this_thread::sleep_for(1s);
  const auto metrics = http.get("http://127.0.0.1:" + std::to_string(port) + "/metrics").body;
  CHECK(metrics.find("cryptoflow_binance_trades_total 10000\n") != std::string::npos);
  CHECK(metrics.find("cryptoflow_binance_reconnects_total 1\n") != std::string::npos);
  CHECK(metrics.find("cryptoflow_binance_unrecoverable_total 0\n") != std::string::npos);
  ex.reset();  // the exchange goes away: not ready any more
  CHECK(eventually([&] { return ready() == 503; }, 20s));
  CHECK(producer.terminate() == 0);

  kafka::Properties p;
  p.set("bootstrap.servers", *bootstrap).set("fetch.wait.max.ms", "5");
  kafka::KafkaConsumer c(p, "live-e2e", {"crypto.trades"});
  std::vector<std::int64_t> ids;
  eventually(
      [&] {
        while (auto m = c.poll(std::chrono::milliseconds(20))) ids.push_back(decode_trade(m->value).value->trade_id);
        return ids.size() >= 10000;
      },
      30s, 0ms);
  REQUIRE(ids.size() == 10000);
  for (std::size_t i = 0; i < ids.size(); ++i) REQUIRE(ids[i] == 348656870 + static_cast<std::int64_t>(i));
  CHECK(broker.terminate() == 0);
}
