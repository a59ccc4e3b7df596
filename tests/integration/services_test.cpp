// The stream-processor and influxdb-sink loops, in process, against the embedded broker and a
// real influxd: bad input goes to the dead-letter topic and the rest flows.
#include <catch2/catch.hpp>
#include <thread>

#include "cryptoflow/batch_sink.hpp"
#include "cryptoflow/http.hpp"
#include "dev_broker.hpp"
#include "embedded_broker.hpp"
#include "influx_destination.hpp"
#include "processor.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using cryptoflow::test::props_for;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kTopics = {"crypto.trades",     "crypto.tickers",     "crypto.candles",
                                          "crypto.indicators", "crypto.late-trades", "crypto.dead-letter"};

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

std::string header(const rd_kafka_message_t& m, const char* name) {
  rd_kafka_headers_t* h = nullptr;
  if (rd_kafka_message_headers(&m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* v = nullptr;
  size_t n = 0;
  if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return std::string(static_cast<const char*>(v), n);
}

// Runs a service loop on a thread until the scope ends.
class Running {
 public:
  template <class Service>
  explicit Running(Service& s) : thread_([this, &s] { s.run([this] { return stop_.load(); }); }) {}
  ~Running() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("stream-processor: candles out - late trades to late-trades - bad records to dead-letter") {
  DevBroker broker({1, 0, 3}, kTopics);
  MetricsRegistry metrics;
  processor::ProcessorOptions o;
  o.engine = {{{"1m", 60'000}}, 0, 10'000, 12};
  processor::StreamProcessor proc(props_for(broker), o, metrics);
  Running running(proc);

  {
    kafka::Producer p(props_for(broker), metrics);
    p.produce("crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 1, 1'000, "100.5", "1"), 1'000);
    p.produce("crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 2, 30'000, "101", "2"), 30'000);
    p.produce("crypto.trades", "BTCUSDT", "{\"symbol\":", 40'000);                               // malformed
    p.produce("crypto.trades", "BTCUSDT", trade_json("btcusdt", 3, 40'000, "1", "1"), 40'000);   // schema
    p.produce("crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 4, 61'000, "99", "1"), 61'000);  // closes [0,60s)
    p.produce("crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 5, 59'000, "1", "1"), 59'000);   // late
    REQUIRE(p.flush(10s));
  }

  kafka::Consumer candles(props_for(broker), "t.candles", {"crypto.candles"});
  std::optional<Candle> final_candle;
  REQUIRE(test::eventually(
      [&] {
        while (auto m = candles.poll(20)) {
          auto c = decode_candle(kafka::value_of(*m));
          REQUIRE(c);
          CHECK(kafka::key_of(*m) == "BTCUSDT:1m");
          if (c.value->final) final_candle = *c.value;
        }
        return final_candle.has_value();
      },
      30s, 0ms));
  CHECK(final_candle->open.to_string() == "100.5");
  CHECK(final_candle->close.to_string() == "101");
  CHECK(final_candle->volume.to_string() == "3");
  CHECK(final_candle->trades == 2);

  kafka::Consumer dlq(props_for(broker), "t.dlq", {"crypto.dead-letter"});
  std::vector<kafka::MessagePtr> dead;
  REQUIRE(test::eventually(
      [&] {
        while (auto m = dlq.poll(20)) dead.push_back(std::move(m));
        return dead.size() >= 2;
      },
      30s, 0ms));
  CHECK(header(*dead[0], "error").find("malformed JSON") == 0);
  CHECK(header(*dead[0], "source.topic") == "crypto.trades");
  CHECK(header(*dead[0], "source.offset") == "2");
  CHECK(header(*dead[1], "error") == "field 'symbol': not upper-case letters and digits");

  kafka::Consumer late(props_for(broker), "t.late", {"crypto.late-trades"});
  std::vector<kafka::MessagePtr> lates;
  REQUIRE(test::eventually(
      [&] {
        while (auto m = late.poll(20)) lates.push_back(std::move(m));
        return !lates.empty();
      },
      30s, 0ms));
  CHECK(decode_trade(kafka::value_of(*lates[0])).value->trade_id == 5);
  CHECK(metrics.value("cryptoflow_processor_late_trades_total") == 1);
  CHECK(metrics.value("cryptoflow_processor_dead_lettered_total") == 2);
}

TEST_CASE(
    "influxdb-sink: a record InfluxDB rejects goes to dead-letter - its batch-mates are written - "
    "an outage loses nothing") {
  DevBroker broker({1, 0, 3}, kTopics);
  test::InfluxServer influx;
  // A field of type string in a far-away shard: a candle written there is refused (type conflict).
  HttpClient http;
  REQUIRE(http.post(influx.url() + "/write?db=crypto&precision=ms",
                    "candle,interval=1m,source=binance,symbol=BAD open=\"text\" 1900000000000\n")
              .ok());

  MetricsRegistry metrics;
  auto candle = [](const char* symbol, std::int64_t start) {
    Candle c;
    c.source = "binance";
    c.symbol = symbol;
    c.interval = "1m";
    c.start = start;
    c.end = start + 60'000;
    c.open = c.high = c.low = c.close = c.vwap = *Decimal::parse("1.25");
    c.volume = c.quote_volume = c.taker_buy_volume = *Decimal::parse("2");
    c.trades = 1;
    c.final = true;
    return c;
  };
  kafka::Producer p(props_for(broker), metrics);
  for (int i = 0; i < 20; ++i) {
    const auto c = candle("XRPETH", 1570752000000 + i * 60'000);
    p.produce("crypto.candles", candle_key(c), to_json(c), c.start);
  }
  const auto bad = candle("BAD", 1900000000000);
  p.produce("crypto.candles", candle_key(bad), to_json(bad), bad.start);
  p.produce("crypto.candles", "x", "not json", 0);
  REQUIRE(p.flush(10s));

  influx::InfluxWriter writer({influx.url(), "v1", "", "", "", "crypto", "", ""});
  sink::SinkOptions so;
  so.group_id = "influxdb-sink";
  so.topics = {"crypto.candles"};
  so.batch_size = 100;
  so.flush_interval = 200ms;
  influx::InfluxDestination destination({}, writer);
  sink::BatchSink sink(props_for(broker), so, destination, metrics);
  {
    Running running(sink);
    auto count = [&] {
      const auto body = influx.query("crypto", "SELECT count(close) FROM candle WHERE symbol='XRPETH'");
      const auto at = body.find("[[0,");
      return at == std::string::npos ? 0 : std::stoi(body.substr(at + 4));
    };
    REQUIRE(test::eventually([&] { return count() == 20; }, 30s));
    REQUIRE(test::eventually([&] { return metrics.value("cryptoflow_sink_dead_lettered_total") == 2; }, 30s));
    CHECK(metrics.value("cryptoflow_sink_rejected_total") == 1);

    // Outage: influxd stopped; new candles wait in Kafka; the sink reports not ready, then
    // writes everything once influxd is back.
    influx.stop();
    for (int i = 20; i < 40; ++i) {
      const auto c = candle("XRPETH", 1570752000000 + i * 60'000);
      p.produce("crypto.candles", candle_key(c), to_json(c), c.start);
    }
    REQUIRE(p.flush(10s));
    REQUIRE(test::eventually([&] { return !sink.ready(); }, 30s));
    std::this_thread::sleep_for(2s);
    influx.start();
    REQUIRE(test::eventually([&] { return count() == 40; }, 60s));
    CHECK(test::eventually([&] { return sink.ready(); }, 30s));
    CHECK(metrics.value("cryptoflow_sink_retries_total") > 0);
  }
  kafka::Consumer dlq(props_for(broker), "t.sink.dlq", {"crypto.dead-letter"});
  std::vector<std::string> errors;
  REQUIRE(test::eventually(
      [&] {
        while (auto m = dlq.poll(20)) errors.push_back(header(*m, "error"));
        return errors.size() >= 2;
      },
      30s, 0ms));
  std::sort(errors.begin(), errors.end());
  CHECK(errors[0].find("influxdb rejected: ") == 0);
  CHECK(errors[0].find("field type conflict") != std::string::npos);
  CHECK(errors[1].find("malformed JSON") == 0);
}
