// The stream-processor's loop in process against the embedded broker: bad input goes to the
// dead-letter topic, late trades to late-trades, and the rest becomes candles.
#include "stream-processor/src/processor.hpp"

#include <catch2/catch.hpp>

#include "cryptoflow/kafka.hpp"
#include "embedded_broker.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using cryptoflow::test::produce;
using cryptoflow::test::props_for;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kTopics = {"crypto.trades",         "crypto.tickers",     "crypto.candles",
                                          "crypto.indicators",     "crypto.late-trades", "crypto.dead-letter",
                                          "crypto.processor-state"};

std::string trade_json(const char* symbol, std::int64_t id, std::int64_t t, const char* price, const char* qty) {
  Trade x;
  x.source = "binance";
  x.symbol = symbol;
  x.trade_id = id;
  x.trade_time = x.event_time = x.received_time = t;
  x.price = *Decimal::parse(price);
  x.quantity = *Decimal::parse(qty);
  return to_json(x);
}

}  // namespace

TEST_CASE("stream-processor: candles out - late trades to late-trades - bad records to dead-letter") {
  DevBroker broker({1, 0, 3}, kTopics);
  MetricsRegistry metrics;
  processor::ProcessorOptions o;
  o.engine = {{{"1m", 60'000}}, 0, 10'000, 12};
  o.transactional_id = "sp-test";
  kafka::KafkaConsumer input(props_for(broker), o.group_id);
  kafka::KafkaProducer output(props_for(broker), metrics, o.exactly_once ? o.transactional_id : std::string());
  kafka::KafkaReader state(props_for(broker));
  processor::StreamProcessor proc(o, {input, output, state}, metrics);
  test::Running running(proc);

  {
    kafka::KafkaProducer p(props_for(broker), metrics);
    produce(p, "crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 1, 1'000, "100.5", "1"), 1'000);
    produce(p, "crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 2, 30'000, "101", "2"), 30'000);
    produce(p, "crypto.trades", "BTCUSDT", "{\"symbol\":", 40'000);                                    // malformed
    produce(p, "crypto.trades", "BTCUSDT", trade_json("btcusdt", 3, 40'000, "1", "1"), 40'000);        // schema
    produce(p, "crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 4, 61'000, "99", "1"), 61'000);       // closes [0,60s)
    produce(p, "crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 5, 59'000, "1", "1"), 59'000);        // late
    produce(p, "crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 6, 62'000, "1e30", "1e10"), 62'000);  // overflow
    REQUIRE_NOTHROW(p.flush(10s));
  }

  kafka::KafkaConsumer candles(props_for(broker), "t.candles", {"crypto.candles"});
  std::optional<Candle> final_candle;
  REQUIRE(test::eventually(
      [&] {
        while (auto m = candles.poll(20ms)) {
          auto c = decode_candle(m->value);
          REQUIRE(c);
          CHECK(m->key == "BTCUSDT:1m");
          if (c.value->final) final_candle = *c.value;
        }
        return final_candle.has_value();
      },
      30s, 0ms));
  CHECK(final_candle->open.to_string() == "100.5");
  CHECK(final_candle->close.to_string() == "101");
  CHECK(final_candle->volume.to_string() == "3");
  CHECK(final_candle->trades == 2);

  kafka::KafkaConsumer dlq(props_for(broker), "t.dlq", {"crypto.dead-letter"});
  std::vector<kafka::Record> dead;
  REQUIRE(test::eventually(
      [&] {
        while (auto m = dlq.poll(20ms)) dead.push_back(std::move(*m));
        return dead.size() >= 3;
      },
      30s, 0ms));
  CHECK(test::header_of(dead[0], "error").find("malformed JSON") == 0);
  CHECK(test::header_of(dead[0], "source.topic") == "crypto.trades");
  CHECK(test::header_of(dead[0], "source.offset") == "2");
  CHECK(test::header_of(dead[1], "error") == "field 'symbol': not upper-case letters and digits");
  CHECK_FALSE(test::header_of(dead[1], processor::kCommitHeader).empty());

  kafka::KafkaConsumer late(props_for(broker), "t.late", {"crypto.late-trades"});
  std::vector<kafka::Record> lates;
  REQUIRE(test::eventually(
      [&] {
        while (auto m = late.poll(20ms)) lates.push_back(std::move(*m));
        return !lates.empty();
      },
      30s, 0ms));
  CHECK(decode_trade(lates[0].value).value->trade_id == 5);
  CHECK(metrics.value("cryptoflow_processor_late_trades_total") == 1);
  CHECK(test::header_of(dead[2], "error") == "decimal overflow in price * quantity");
  CHECK(metrics.value("cryptoflow_processor_dead_lettered_total") == 3);
}

TEST_CASE("stream-processor at_least_once with UPDATE_INTERVAL_MS: updates go out between commits") {
  DevBroker broker({1, 0, 3}, kTopics);
  MetricsRegistry metrics;
  processor::ProcessorOptions o;
  o.engine = {{{"1m", 60'000}}, 0, 10'000, 12};
  o.exactly_once = false;
  o.commit_interval = std::chrono::minutes(10);  // no commit during the test
  o.update_interval = std::chrono::milliseconds(20);
  kafka::KafkaConsumer input(props_for(broker), o.group_id);
  kafka::KafkaProducer output(props_for(broker), metrics, o.exactly_once ? o.transactional_id : std::string());
  kafka::KafkaReader state(props_for(broker));
  processor::StreamProcessor proc(o, {input, output, state}, metrics);
  test::Running running(proc);
  kafka::KafkaConsumer candles(props_for(broker), "t.updates", {"crypto.candles"});
  {
    kafka::KafkaProducer p(props_for(broker), metrics);
    produce(p, "crypto.trades", "ETHUSDT", trade_json("ETHUSDT", 1, 1'000, "2000.5", "1"), 1'000);
    REQUIRE_NOTHROW(p.flush(10s));
  }
  std::optional<Candle> update;
  REQUIRE(test::eventually(
      [&] {
        while (auto m = candles.poll(20ms))
          if (auto c = decode_candle(m->value); c && !c.value->final) update = *c.value;
        return update.has_value();
      },
      30s, 0ms));
  CHECK(update->symbol == "ETHUSDT");
  CHECK(update->close.to_string() == "2000.5");
  CHECK(update->trades == 1);
  CHECK(metrics.value("cryptoflow_processor_candles_out_total", {{"kind", "update"}}) >= 1);
  CHECK(metrics.value("cryptoflow_processor_commit_latency_ms") == 0);  // it came before any commit
}
