// The gateway's configuration: GATEWAY_MAX_MEMORY's sizes, and the series limit fitted to it.
#include "service.hpp"

#include <catch2/catch.hpp>

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
