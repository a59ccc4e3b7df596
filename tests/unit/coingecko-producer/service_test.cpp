// coingecko-producer's configuration: defaults, and every bad value refused naming its variable.
#include "coingecko-producer/src/service.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace cryptoflow;

namespace {

coingecko::Options parse(Config::Env env) {
  return coingecko::parse(Config(coingecko::service_info().vars, std::move(env)));
}

std::string error_of(Config::Env env) {
  return test::config_error(coingecko::service(), std::move(env));
}

}  // namespace

TEST_CASE("coingecko-producer: the contract's defaults") {
  const auto o = parse({});
  CHECK(o.client.base_url == "https://api.coingecko.com/api/v3");
  CHECK(o.client.plan == "demo");
  CHECK(o.poller.ids.empty());
  CHECK(o.poller.top_n == 50);
  CHECK(o.poller.vs_currencies == std::vector<std::string>{"usd", "eur"});
  CHECK(o.poller.interval_ms == 60'000);
  CHECK(o.calls_per_minute == 30);
  CHECK(o.topic == "crypto.tickers");
}

TEST_CASE("coingecko-producer: bad values are refused naming the variable") {
  CHECK(error_of({{"COINGECKO_PLAN", "free"}}).find("COINGECKO_PLAN='free'") == 0);
  CHECK(error_of({{"COINGECKO_URL", "api.coingecko.com"}}).find("COINGECKO_URL=") == 0);
  CHECK(error_of({{"COINGECKO_VS_CURRENCIES", ""}}) == "COINGECKO_VS_CURRENCIES is empty");
  CHECK(error_of({{"COINGECKO_TOP_N", "0"}}).find("COINGECKO_TOP_N=0 is out of range") == 0);
  CHECK(error_of({{"COINGECKO_CALLS_PER_MINUTE", "-1"}}).find("COINGECKO_CALLS_PER_MINUTE=-1") == 0);
}
