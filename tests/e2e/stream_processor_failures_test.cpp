// stream-processor as a process, on its failure paths: a fatal error is logged with its cause
// and ends the process (exit 1) within 5 s, with no crash; SIGTERM is honoured at once even
// while the cluster does not answer.
#include <catch2/catch.hpp>
#include <csignal>
#include <thread>

#include "cryptoflow/kafka/producer.hpp"
#include "cryptoflow/messages/messages.hpp"
#include "embedded_broker.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kTopics = {"crypto.trades",      "crypto.candles",     "crypto.indicators",
                                          "crypto.late-trades", "crypto.dead-letter", "crypto.processor-state"};

std::string trade_json(const std::string& symbol, std::int64_t id, std::int64_t t) {
  Trade x;
  x.source = "binance";
  x.symbol = symbol;
  x.trade_id = id;
  x.trade_time = x.event_time = x.received_time = t;
  x.price = *Decimal::parse("100.25");
  x.quantity = *Decimal::parse("1.5");
  return to_json(x);
}

}  // namespace

TEST_CASE("stream-processor: a fatal error is logged with its cause - exit 1 within 5 s - no crash") {
  DevBroker broker({1, 0, 1}, kTopics);
  {
    MetricsRegistry metrics;
    kafka::KafkaProducer p(props_for(broker), metrics);
    for (int s = 0; s < 40; ++s)
      for (int i = 0; i < 5; ++i)
        produce(p, "crypto.trades", "S" + std::to_string(s), trade_json("S" + std::to_string(s), i, 1'000'000 + i), 0);
    p.flush(10s);
  }
  // A newer instance with the same transactional id took over: the broker fences this one's
  // commits (what the embedded broker does not do by itself: injected, EndTxn -> PRODUCER_FENCED).
  broker.cluster().fail_requests(26, std::vector<std::int16_t>(20, 90));
  TempDir dir;
  const auto log = (dir.path() / "stderr").string();
  Process sp({binary("stream-processor")},
             {{"KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers()},
              {"KAFKA_SESSION_TIMEOUT_MS", "6000"},
              {"ADMIN_PORT", "0"},
              {"TRANSACTIONAL_ID", "sp-fatal"}},
             log);
  REQUIRE(eventually([&] { return read_file(log).find("\"fatal error\"") != std::string::npos; }, 60s, 50ms));
  const auto code = sp.wait(5s);
  REQUIRE(code.has_value());
  CHECK(*code == 1);
  const auto text = read_file(log);
  INFO(text.substr(text.size() > 3000 ? text.size() - 3000 : 0));
  CHECK(text.find("fenced") != std::string::npos);
  CHECK(text.find("nothing more is committed") != std::string::npos);
}

TEST_CASE("stream-processor: SIGTERM while the cluster does not answer - exit 0 within 5 s") {
  for (const char* moment : {"1000", "4000"}) {  // creating topics; then looking them up
    INFO("SIGTERM after " << moment << " ms");
    TempDir dir;
    const auto log = (dir.path() / "stderr").string();
    Process sp({binary("stream-processor")},
               {{"KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:" + std::to_string(free_port())},
                {"ADMIN_PORT", "0"},
                {"TRANSACTIONAL_ID", "sp-term"}},
               log);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(moment)));
    REQUIRE(sp.running());
    const auto sent = std::chrono::steady_clock::now();
    sp.signal(SIGTERM);
    const auto code = sp.wait(5s);
    INFO(read_file(log));
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK(std::chrono::steady_clock::now() - sent < 5s);
  }
}
