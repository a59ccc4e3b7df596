// stream-processor's configuration: defaults, and every bad value refused naming its variable.
#include "stream-processor/src/service.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace cryptoflow;

namespace {

processor::Options parse(Config::Env env) {
  return processor::parse(Config(processor::service_info().vars, std::move(env)));
}

std::string error_of(Config::Env env) {
  return test::config_error(processor::service(), std::move(env));
}

}  // namespace

TEST_CASE("stream-processor: the contract's defaults") {
  const auto o = parse({{"HOSTNAME", "pod-7"}});
  const auto& p = o.processor;
  REQUIRE(p.engine.intervals.size() == 4);
  CHECK(p.engine.intervals[0].name == "1m");
  CHECK(p.engine.intervals[3].ms == 3'600'000);
  CHECK(p.engine.allowed_lateness_ms == 60'000);
  CHECK(p.engine.idle_timeout_ms == 10'000);
  REQUIRE(p.engine.sma);
  CHECK(p.engine.sma->window_ms == 30'000);
  CHECK(p.engine.sma->slide_ms == 10'000);
  CHECK(p.exactly_once);
  CHECK(p.commit_interval == std::chrono::milliseconds(100));
  CHECK(p.group_id == "stream-processor");
  CHECK(p.trades_topic == "crypto.trades");
  CHECK(p.state_topic == "crypto.processor-state");
  CHECK(o.kafka.get("bootstrap.servers") == "localhost:9092");
}

TEST_CASE("stream-processor: the transactional id and the group instance id are stable per instance") {
  CHECK(parse({{"TRANSACTIONAL_ID", "sp-a"}}).processor.transactional_id == "sp-a");
  CHECK(parse({{"TRANSACTIONAL_ID", "sp-a"}}).group_instance_id == "sp-a");
  const auto pod = parse({{"GROUP_ID", "g"}, {"HOSTNAME", "stream-processor-2"}});
  CHECK(pod.processor.transactional_id == "g-stream-processor-2");
  CHECK(pod.group_instance_id == "g-stream-processor-2");
  CHECK(parse({{"STATIC_MEMBERSHIP", "false"}}).group_instance_id.empty());
  CHECK(error_of({{"STATIC_MEMBERSHIP", "yes"}}).find("STATIC_MEMBERSHIP='yes'") == 0);
}

TEST_CASE("stream-processor: a restore may wait out a dead writer's open transaction") {
  const auto o = parse({{"KAFKA_TRANSACTION_TIMEOUT_MS", "20000"}});
  CHECK(o.processor.restore_timeout > o.processor.transaction_timeout);
}

TEST_CASE("stream-processor: bad values are refused naming the variable") {
  CHECK(error_of({{"CANDLE_INTERVALS", "1m,7m"}}) == "CANDLE_INTERVALS: '7m' does not divide a day evenly");
  CHECK(error_of({{"CANDLE_INTERVALS", "1m,60s"}}) == "CANDLE_INTERVALS: '60s' is listed twice");
  CHECK(error_of({{"CANDLE_INTERVALS", "500ms"}}).find("CANDLE_INTERVALS: '500ms' is not an interval") == 0);
  CHECK(error_of({{"CANDLE_INTERVALS", "1500ms"}}).find("CANDLE_INTERVALS: '1500ms' is not an interval") == 0);
  CHECK(error_of({{"CANDLE_INTERVALS", ""}}) == "CANDLE_INTERVALS is empty");
  CHECK(error_of({{"MA_SLIDE", "7s"}}) == "MA_SLIDE: '7s' does not divide MA_WINDOW '30s'");
  CHECK(error_of({{"MA_WINDOW", "0s"}}) == "MA_WINDOW: '0s' is not a positive duration");
  CHECK(error_of({{"ALLOWED_LATENESS", "soon"}}).find("ALLOWED_LATENESS='soon'") == 0);
  CHECK(error_of({{"PROCESSING_GUARANTEE", "maybe"}}).find("PROCESSING_GUARANTEE='maybe'") == 0);
  CHECK(error_of({{"COMMIT_INTERVAL_MS", "0"}}).find("COMMIT_INTERVAL_MS=0 is out of range") == 0);
  CHECK(error_of({{"KAFKA_LINGER_MS", "soon"}}).find("KAFKA_LINGER_MS") == 0);
  CHECK(error_of({{"MAX_CLOCK_SKEW", "a while"}}).find("MAX_CLOCK_SKEW='a while'") == 0);
}

TEST_CASE("stream-processor: one symbol's state must fit a quarter of a Kafka record") {
  CHECK(parse({}).processor.evict_after_ms == 86'400'000);
  CHECK(parse({}).processor.refresh_bytes == 2'097'152);
  CHECK(parse({{"STATE_REFRESH_BYTES", "0"}, {"STATE_EVICT_AFTER", "0"}}).processor.refresh_bytes == 0);
  // One-second candles with a day of lateness: 86,400 windows a symbol.
  const auto e = error_of({{"CANDLE_INTERVALS", "1s"}, {"ALLOWED_LATENESS", "1d"}});
  CHECK(e.find("CANDLE_INTERVALS / ALLOWED_LATENESS / MAX_CLOCK_SKEW: one symbol's state may take") == 0);
  CHECK(error_of({{"CANDLE_INTERVALS", "1s"}, {"ALLOWED_LATENESS", "1d"}, {"KAFKA_MESSAGE_MAX_BYTES", "100000000"}}) ==
        "accepted");
  // librdkafka checks these as the configuration is read (Properties::from_config): refused, named.
  CHECK(error_of({{"KAFKA_MESSAGE_MAX_BYTES", "1MB"}}).find("KAFKA_MESSAGE_MAX_BYTES") == 0);
  CHECK(error_of({{"KAFKA_TRANSACTION_TIMEOUT_MS", "0"}}).find("KAFKA_TRANSACTION_TIMEOUT_MS") == 0);
}

TEST_CASE("stream-processor: a commit interval is a small part of the transaction timeout") {
  CHECK(parse({}).processor.max_clock_skew_ms == 300'000);
  CHECK(parse({}).processor.transaction_timeout == std::chrono::milliseconds(60'000));
  CHECK(parse({{"COMMIT_INTERVAL_MS", "6000"}}).processor.commit_interval == std::chrono::milliseconds(6000));
  CHECK(error_of({{"COMMIT_INTERVAL_MS", "6001"}}) ==
        "COMMIT_INTERVAL_MS=6001 must be at most a tenth of the transaction timeout (KAFKA_TRANSACTION_TIMEOUT_MS, "
        "60000 ms): each commit interval is one open transaction");
  const auto longer = parse({{"COMMIT_INTERVAL_MS", "12000"}, {"KAFKA_TRANSACTION_TIMEOUT_MS", "120000"}});
  CHECK(longer.processor.transaction_timeout == std::chrono::milliseconds(120'000));
  CHECK(error_of({{"COMMIT_INTERVAL_MS", "600000"}, {"PROCESSING_GUARANTEE", "at_least_once"}}) == "accepted");
}
