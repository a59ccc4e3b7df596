// The stream-processor and influxdb-sink loops, in process, against the embedded broker and a
// real influxd: bad input goes to the dead-letter topic and the rest flows.
#include <catch2/catch.hpp>
#include <mutex>
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
  processor::StreamProcessor proc(props_for(broker), o, metrics);
  test::Running running(proc);

  {
    kafka::Producer p(props_for(broker), metrics);
    p.produce("crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 1, 1'000, "100.5", "1"), 1'000);
    p.produce("crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 2, 30'000, "101", "2"), 30'000);
    p.produce("crypto.trades", "BTCUSDT", "{\"symbol\":", 40'000);                                    // malformed
    p.produce("crypto.trades", "BTCUSDT", trade_json("btcusdt", 3, 40'000, "1", "1"), 40'000);        // schema
    p.produce("crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 4, 61'000, "99", "1"), 61'000);       // closes [0,60s)
    p.produce("crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 5, 59'000, "1", "1"), 59'000);        // late
    p.produce("crypto.trades", "BTCUSDT", trade_json("BTCUSDT", 6, 62'000, "1e30", "1e10"), 62'000);  // overflow
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
        return dead.size() >= 3;
      },
      30s, 0ms));
  CHECK(test::header_of(*dead[0], "error").find("malformed JSON") == 0);
  CHECK(test::header_of(*dead[0], "source.topic") == "crypto.trades");
  CHECK(test::header_of(*dead[0], "source.offset") == "2");
  CHECK(test::header_of(*dead[1], "error") == "field 'symbol': not upper-case letters and digits");
  CHECK_FALSE(test::header_of(*dead[1], processor::kCommitHeader).empty());

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
  CHECK(test::header_of(*dead[2], "error") == "decimal overflow in price * quantity");
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
  processor::StreamProcessor proc(props_for(broker), o, metrics);
  test::Running running(proc);
  kafka::Consumer candles(props_for(broker), "t.updates", {"crypto.candles"});
  {
    kafka::Producer p(props_for(broker), metrics);
    p.produce("crypto.trades", "ETHUSDT", trade_json("ETHUSDT", 1, 1'000, "2000.5", "1"), 1'000);
    REQUIRE(p.flush(10s));
  }
  std::optional<Candle> update;
  REQUIRE(test::eventually(
      [&] {
        while (auto m = candles.poll(20))
          if (auto c = decode_candle(kafka::value_of(*m)); c && !c.value->final) update = *c.value;
        return update.has_value();
      },
      30s, 0ms));
  CHECK(update->symbol == "ETHUSDT");
  CHECK(update->close.to_string() == "2000.5");
  CHECK(update->trades == 1);
  CHECK(metrics.value("cryptoflow_processor_candles_out_total", {{"kind", "update"}}) >= 1);
  CHECK(metrics.value("cryptoflow_processor_commit_latency_ms") == 0);  // it came before any commit
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
  kafka::Producer p(props_for(broker), metrics);
  for (int i = 0; i < 20; ++i) {
    const auto c = test::sample_candle("XRPETH", 1570752000000 + i * 60'000);
    p.produce("crypto.candles", candle_key(c), to_json(c), c.start);
  }
  const auto bad = test::sample_candle("BAD", 1900000000000);
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
    test::Running running(sink);
    auto count = [&] {
      const auto body = influx.query("crypto", "SELECT count(close) FROM candle WHERE symbol='XRPETH'");
      const auto at = body.find("[[0,");
      return at == std::string::npos ? 0 : std::stoi(body.substr(at + 4));
    };
    REQUIRE(test::eventually([&] { return count() == 20; }, 30s));
    REQUIRE(test::eventually([&] { return metrics.value("cryptoflow_sink_dead_lettered_total") == 2; }, 30s));
    CHECK(metrics.value("cryptoflow_sink_rejected_total") == 1);

    // Mid-stream, candles keep arriving (one every 50 ms) while influxd is stopped for 30 s,
    // then frozen (SIGSTOP: connections hang) for 30 s. The sink pauses, reports not ready,
    // and writes everything once influxd answers again.
    std::atomic<bool> producing{true};
    std::atomic<int> produced{20};
    std::thread feeder([&] {
      kafka::Producer fp(props_for(broker), metrics);
      while (producing) {
        const auto c = test::sample_candle("XRPETH", 1570752000000 + produced * 60'000);
        fp.produce("crypto.candles", candle_key(c), to_json(c), c.start);
        ++produced;
        std::this_thread::sleep_for(50ms);
      }
    });
    std::this_thread::sleep_for(1s);
    influx.stop();
    CHECK(test::eventually([&] { return !sink.ready(); }, 30s));
    std::this_thread::sleep_for(30s);
    influx.start();
    REQUIRE(test::eventually([&] { return sink.ready(); }, 60s));
    influx.pause();
    std::this_thread::sleep_for(30s);
    CHECK_FALSE(sink.ready());
    influx.resume();
    std::this_thread::sleep_for(1s);
    producing = false;
    feeder.join();
    INFO("produced " << produced.load());
    REQUIRE(test::eventually([&] { return count() == produced.load(); }, 90s));
    CHECK(test::eventually([&] { return sink.ready(); }, 30s));
    CHECK(metrics.value("cryptoflow_sink_retries_total") > 0);
    CHECK(metrics.value("cryptoflow_sink_paused_seconds_total") > 20);
  }
  // A second consumer group writes every candle again: the point count does not change.
  const auto before = [&] {
    const auto body = influx.query("crypto", "SELECT count(close) FROM candle WHERE symbol='XRPETH'");
    return body.substr(body.find("[[0,"));
  }();
  so.group_id = "influxdb-sink-replay";
  MetricsRegistry replay_metrics;
  {
    sink::BatchSink replay(props_for(broker), so, destination, replay_metrics);
    test::Running running(replay);
    REQUIRE(test::eventually(
        [&] {
          return replay_metrics.value("cryptoflow_sink_batches_total") > 0 &&
                 replay_metrics.value("cryptoflow_sink_consumer_lag") == 0;
        },
        60s));
  }
  const auto after = influx.query("crypto", "SELECT count(close) FROM candle WHERE symbol='XRPETH'");
  CHECK(after.substr(after.find("[[0,")) == before);
  // Each of the two groups dead-letters the refused candle and the malformed record once.
  const auto errors = test::dead_letter_errors(broker, "crypto.dead-letter", 4);
  CHECK(errors.size() == 4);
  CHECK(std::count_if(errors.begin(), errors.end(), [](const std::string& e) {
          return e.find("influxdb rejected: ") == 0 && e.find("field type conflict") != std::string::npos;
        }) == 2);
  CHECK(std::count_if(errors.begin(), errors.end(),
                      [](const std::string& e) { return e.find("malformed JSON") == 0; }) == 2);
}

namespace {

// Writes take 100 ms; remembers what it wrote, in order, and whether encode() ran meanwhile.
class SlowDestination final : public sink::Destination {
 public:
  std::string encode(const std::string&, std::string_view value, std::string& body) override {
    if (value == "bad") return "not a record";
    if (writing_) ++encoded_during_writes_;
    body.append(value);
    return {};
  }
  sink::WriteOutcome write(const std::string& body, const std::vector<sink::Slice>& slices) override {
    writing_ = true;
    std::this_thread::sleep_for(100ms);
    {
      std::lock_guard lock(mu_);
      for (const auto& s : slices) written_.push_back(body.substr(s.begin, s.end - s.begin));
    }
    writing_ = false;
    sink::WriteOutcome out;
    out.items.resize(slices.size());
    return out;
  }
  std::vector<std::string> written() {
    std::lock_guard lock(mu_);
    return written_;
  }
  std::atomic<int> encoded_during_writes_{0};

 private:
  std::atomic<bool> writing_{false};
  std::mutex mu_;
  std::vector<std::string> written_;
};

}  // namespace

TEST_CASE("A sink reads and encodes the next batch while one is written - batches commit in order") {
  DevBroker broker({1, 0, 1}, kTopics);
  MetricsRegistry metrics;
  std::vector<std::string> expected;
  {
    kafka::Producer p(props_for(broker), metrics);
    for (int i = 0; i < 3000; ++i) {
      if (i == 1500) p.produce("crypto.candles", "k", "bad");  // dead-lettered, committed with its batch
      p.produce("crypto.candles", "k", "r" + std::to_string(i));
      expected.push_back("r" + std::to_string(i));
    }
    REQUIRE(p.flush(10s));
  }
  sink::SinkOptions so;
  so.group_id = "pipelined";
  so.topics = {"crypto.candles"};
  so.batch_size = 250;
  so.flush_interval = 50ms;
  SlowDestination destination;
  {
    sink::BatchSink sink(props_for(broker), so, destination, metrics);
    test::Running running(sink);
    REQUIRE(test::eventually([&] { return destination.written().size() >= expected.size(); }, 60s));
    REQUIRE(test::eventually([&] { return metrics.value("cryptoflow_sink_batches_total") >= 13; }, 10s));
  }
  CHECK(destination.written() == expected);  // each once, in order
  CHECK(destination.encoded_during_writes_ > 0);
  CHECK(metrics.value("cryptoflow_sink_dead_lettered_total") == 1);
  // Everything, the dead-lettered record included, is committed: a new member reads nothing.
  kafka::PartitionListPtr parts(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(parts.get(), "crypto.candles", 0);
  kafka::Consumer again(props_for(broker), "pipelined", {"crypto.candles"});
  REQUIRE(rd_kafka_committed(again.handle(), parts.get(), 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  CHECK(parts->elems[0].offset == 3001);
}
