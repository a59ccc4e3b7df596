// influxdb-sink's configuration: defaults, and every bad value refused naming its variable.
#include "influxdb-sink/src/service.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace cryptoflow;

namespace {

influx::Options parse(Config::Env env) {
  return influx::parse(Config(influx::service_info().vars, std::move(env)));
}

std::string error_of(Config::Env env) {
  return test::config_error(influx::service(), std::move(env));
}

}  // namespace

TEST_CASE("influxdb-sink: the contract's defaults") {
  const auto o = parse({});
  CHECK(o.influx.url == "http://localhost:8086");
  CHECK(o.influx.api == "v2");
  CHECK(o.influx.org == "crypto");
  CHECK(o.influx.bucket == "crypto");
  CHECK(o.influx.db == "crypto");
  CHECK(o.influx.gzip);
  CHECK(o.sink.batch_size == 5000);
  CHECK(o.sink.flush_interval == std::chrono::milliseconds(1000));
  CHECK(o.sink.topics ==
        std::vector<std::string>{"crypto.candles", "crypto.indicators", "crypto.tickers", "crypto.books"});
  CHECK(o.topics.books == "crypto.books");
  CHECK(o.sink.group_id == "influxdb-sink");
  CHECK(o.sink.dead_letter_topic == "crypto.dead-letter");
  CHECK(o.topics.candles == "crypto.candles");
}

TEST_CASE("influxdb-sink: bad values are refused naming the variable") {
  CHECK(error_of({{"INFLUX_URL", "localhost:8086"}}).find("INFLUX_URL='localhost:8086'") == 0);
  CHECK(error_of({{"INFLUX_API", "v3"}}).find("INFLUX_API='v3'") == 0);
  CHECK(error_of({{"INFLUX_GZIP", "yes"}}).find("INFLUX_GZIP='yes'") == 0);
  CHECK(error_of({{"INFLUX_BATCH_SIZE", "0"}}).find("INFLUX_BATCH_SIZE=0 is out of range") == 0);
  CHECK(error_of({{"SINK_TOPICS", " , "}}) == "SINK_TOPICS is empty");
}
