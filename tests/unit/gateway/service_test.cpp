// The gateway's configuration: GATEWAY_MAX_MEMORY's sizes, and the series limit fitted to it.
#include "gateway/src/service.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace cryptoflow::gateway;

TEST_CASE("service: GATEWAY_MAX_MEMORY sizes - GATEWAY_MAX_SERIES lowered so that the candles fit") {
  CHECK(parse_bytes("768Mi") == std::size_t{768} << 20);
  CHECK(parse_bytes("1Gi") == std::size_t{1} << 30);
  CHECK(parse_bytes("800M") == std::size_t{800'000'000});
  CHECK(parse_bytes("65536") == std::size_t{65536});
  CHECK_FALSE(parse_bytes("1.5Gi"));
  CHECK_FALSE(parse_bytes("Mi"));
  CHECK_FALSE(parse_bytes("10 Mi"));
  CHECK_FALSE(parse_bytes("99999999999999999999Gi"));

  Options o;
  o.max_memory = std::size_t{768} << 20;
  fit_memory(o);  // defaults: 20,000 series of 1,500 candles would need 3.4 GB
  CHECK(o.derived_series == o.limits.max_series);
  CHECK(o.limits.max_series * (1'500 * kBytesPerCandle + kBytesPerSeries) <= o.max_memory / 8 * 5);
  CHECK(o.limits.max_series > 2'500);
  CHECK(o.server.events_kept_bytes == o.max_memory / 8);
  Options small;
  small.max_memory = std::size_t{8} << 30;
  small.limits.max_series = 100;
  fit_memory(small);
  CHECK(small.derived_series == 0);  // it fits: not lowered
  CHECK(small.limits.max_series == 100);
}

namespace {

Options parse_env(cryptoflow::Config::Env env) {
  return parse(cryptoflow::Config(service_info().vars, std::move(env)));
}

std::string error_of(cryptoflow::Config::Env env) {
  return cryptoflow::test::config_error(service(), std::move(env));
}

}  // namespace

TEST_CASE("service: the contract's defaults") {
  const auto o = parse_env({});
  CHECK(o.server.port == 8000);
  CHECK(o.server.bind_address == "0.0.0.0");
  CHECK(o.server.max_connections == 1000);
  CHECK(o.server.max_connections_per_address == 100);
  CHECK(o.server.trusted_proxies.empty());
  CHECK(o.server.request_timeout == std::chrono::seconds(5));
  CHECK(o.server.idle_timeout == std::chrono::seconds(30));
  CHECK(o.server.write_timeout == std::chrono::seconds(30));
  CHECK(o.server.stream_timeout == std::chrono::seconds(60));
  CHECK(o.server.weight_per_minute == 6000);
  CHECK(o.server.max_subscriptions == 1024);
  CHECK(o.server.client_buffer_bytes == 4u << 20);
  CHECK(o.server.requests_per_second == 50);
  CHECK(o.server.request_burst == 200);
  CHECK(o.server.cors_origin == "*");
  CHECK(o.server.files.empty());  // GATEWAY_STATIC_DIR empty: no page
  CHECK(o.feed.history_ms == 24 * 3'600'000);
  CHECK(o.feed.trades_history_ms == 15 * 60'000);
  CHECK(o.feed.candles_topic == "crypto.candles");
  CHECK(o.feed.trades_topic == "crypto.trades");
  CHECK(o.trades.per_symbol == 1000);
  CHECK(o.limits.candles_per_series == 1500);
  CHECK(o.max_memory == std::size_t{768} << 20);
  CHECK(o.feed.books_topic == "crypto.books");
  CHECK(o.feed.books_history_ms == 120'000);
  CHECK(o.max_books == 2000);
  CHECK(o.browser.topics == std::vector<std::string>{"crypto.trades", "crypto.tickers", "crypto.candles",
                                                     "crypto.indicators", "crypto.books", "crypto.late-trades",
                                                     "crypto.dead-letter"});
  CHECK(o.browser.known_groups ==
        std::vector<std::string>{"stream-processor", "influxdb-sink", "elasticsearch-sink", "s3-sink"});
  CHECK(o.history.url.empty());  // no InfluxDB: no older ranges
  CHECK(o.history.api == "v2");
}

TEST_CASE("service: bad values are refused naming the variable") {
  CHECK(error_of({{"GATEWAY_PORT", "70000"}}).find("GATEWAY_PORT=70000 is out of range") == 0);
  CHECK(error_of({{"GATEWAY_MAX_CONNECTIONS", "0"}}).find("GATEWAY_MAX_CONNECTIONS=0 is out of range") == 0);
  CHECK(error_of({{"GATEWAY_REQUEST_TIMEOUT", "50ms"}}) == "GATEWAY_REQUEST_TIMEOUT: at least 100ms");
  CHECK(error_of({{"GATEWAY_STREAM_TIMEOUT", "later"}}).find("GATEWAY_STREAM_TIMEOUT") == 0);
  CHECK(error_of({{"GATEWAY_CLIENT_BUFFER", "100"}}).find("GATEWAY_CLIENT_BUFFER=100 is out of range") == 0);
  CHECK(error_of({{"GATEWAY_MAX_MEMORY", "8Mi"}}).find("GATEWAY_MAX_MEMORY='8Mi' is not a size") == 0);
  CHECK(error_of({{"INFLUX_URL", "influx:8086"}}).find("INFLUX_URL") == 0);
  CHECK(error_of({{"INFLUX_API", "v3"}}).find("INFLUX_API='v3'") == 0);
  CHECK(error_of({{"GATEWAY_STATIC_DIR", "/nonexistent/web"}}).find("GATEWAY_STATIC_DIR: ") == 0);
}
