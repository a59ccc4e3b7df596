// influxdb-sink's loop in process against the embedded broker and a real influxd: refused
// records go to the dead-letter topic, an outage loses nothing, a replay changes nothing.
#include <catch2/catch.hpp>
#include <thread>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/net/http.hpp"
#include "cryptoflow/sink/batch_sink.hpp"
#include "embedded_broker.hpp"
#include "influxdb-sink/src/influx_destination.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using cryptoflow::test::produce;
using cryptoflow::test::props_for;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kTopics = {"crypto.candles", "crypto.dead-letter"};

}  // namespace

TEST_CASE(
    "influxdb-sink: a record InfluxDB rejects goes to dead-letter - its batch-mates are written - "
    "an outage loses nothing",
    "[long]") {
  DevBroker broker({1, 0, 3}, kTopics);
  test::InfluxServer influx;
  // A field of type string in a far-away shard: a candle written there is refused (type conflict).
  HttpClient http;
  REQUIRE(http.post(influx.url() + "/write?db=crypto&precision=ms",
                    "candle,interval=1m,source=binance,symbol=BAD open=\"text\" 1900000000000\n")
              .ok());

  MetricsRegistry metrics;
  kafka::KafkaProducer p(props_for(broker), metrics);
  for (int i = 0; i < 20; ++i) {
    const auto c = test::sample_candle("XRPETH", 1570752000000 + i * 60'000);
    produce(p, "crypto.candles", candle_key(c), to_json(c), c.start);
  }
  const auto bad = test::sample_candle("BAD", 1900000000000);
  produce(p, "crypto.candles", candle_key(bad), to_json(bad), bad.start);
  produce(p, "crypto.candles", "x", "not json", 0);
  REQUIRE_NOTHROW(p.flush(10s));

  // A frozen influxd (below) answers nothing: a write gives up after 2 s and is retried.
  influx::InfluxWriter writer({influx.url(), "v1", "", "", "", "crypto", "", ""},
                              HttpOptions{.connect_timeout = 1s, .total_timeout = 2s});
  sink::SinkOptions so;
  so.group_id = "influxdb-sink";
  so.topics = {"crypto.candles"};
  so.batch_size = 100;
  so.flush_interval = 200ms;
  influx::InfluxDestination destination({}, writer);
  kafka::KafkaConsumer input(props_for(broker), so.group_id);
  kafka::KafkaProducer dead_letters(props_for(broker), metrics);
  sink::BatchSink sink(so, {input, dead_letters}, destination, metrics);
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

    // Mid-stream, candles keep arriving (one every 50 ms) while influxd is stopped, then frozen
    // (SIGSTOP: connections hang). Each outage lasts until the sink has reported not ready and
    // retried twice while candles kept arriving; the sink pauses, and writes everything once
    // influxd answers again.
    std::atomic<bool> producing{true};
    std::atomic<int> produced{20};
    std::thread feeder([&] {
      kafka::KafkaProducer fp(props_for(broker), metrics);
      while (producing) {
        const auto c = test::sample_candle("XRPETH", 1570752000000 + produced * 60'000);
        produce(fp, "crypto.candles", candle_key(c), to_json(c), c.start);
        ++produced;
        std::this_thread::sleep_for(50ms);
      }
    });
    const auto more_produced = [&](int n) {
      const int from = produced;
      return test::eventually([&] { return produced >= from + n; }, 30s);
    };
    const auto outage = [&](const char* what) {
      INFO("influxd " << what);
      const auto retries = metrics.value("cryptoflow_sink_retries_total");
      const int from = produced;
      CHECK(test::eventually([&] { return !sink.ready(); }, 60s));
      CHECK(test::eventually(
          [&] { return metrics.value("cryptoflow_sink_retries_total") >= retries + 2 && produced >= from + 20; }, 60s));
      CHECK_FALSE(sink.ready());
    };
    REQUIRE(more_produced(10));
    influx.stop();
    outage("stopped");
    influx.start();
    REQUIRE(test::eventually([&] { return sink.ready(); }, 60s));
    influx.pause();
    outage("frozen");
    influx.resume();
    REQUIRE(more_produced(10));
    producing = false;
    feeder.join();
    INFO("produced " << produced.load());
    REQUIRE(test::eventually([&] { return count() == produced.load(); }, 90s));
    CHECK(test::eventually([&] { return sink.ready(); }, 30s));
    CHECK(metrics.value("cryptoflow_sink_retries_total") > 0);
    CHECK(metrics.value("cryptoflow_sink_paused_seconds_total") > 0);
  }
  // A second consumer group writes every candle again: the point count does not change.
  const auto before = [&] {
    const auto body = influx.query("crypto", "SELECT count(close) FROM candle WHERE symbol='XRPETH'");
    return body.substr(body.find("[[0,"));
  }();
  so.group_id = "influxdb-sink-replay";
  MetricsRegistry replay_metrics;
  {
    kafka::KafkaConsumer replay_input(props_for(broker), so.group_id);
    kafka::KafkaProducer replay_dead_letters(props_for(broker), replay_metrics);
    sink::BatchSink replay(so, {replay_input, replay_dead_letters}, destination, replay_metrics);
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
