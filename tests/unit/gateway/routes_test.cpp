// The route table: every route is reached by its own paths (none shadows another), every call
// answers through it, a path under a prefix that no route has gets that prefix's 404, and a
// candle call is placed on the history worker exactly when its range reaches before the store.
#include "gateway/src/routes.hpp"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include "gateway/src/api.hpp"

using namespace cryptoflow;
using namespace cryptoflow::gateway;

namespace {

// A path the pattern takes: "{}" as a coin id, "*" as a stream list.
std::string example(std::string_view pattern) {
  std::string out(pattern);
  for (auto at = out.find("{}"); at != std::string::npos; at = out.find("{}")) out.replace(at, 2, "bitcoin");
  if (out.ends_with("*")) out.replace(out.size() - 1, 1, "btcusdt@trade");
  return out;
}

Candle minute(std::int64_t start) {
  Candle c;
  c.source = "binance";
  c.symbol = "XRPETH";
  c.interval = "1m";
  c.start = start;
  c.end = start + 60'000;
  c.open = c.high = c.low = c.close = c.vwap = *Decimal::parse("0.5");
  c.volume = c.quote_volume = c.taker_buy_volume = *Decimal::parse("1");
  c.trades = 1;
  c.final = true;
  return c;
}

}  // namespace

TEST_CASE("routes: each route is reached by its own path - none is shadowed by an earlier one") {
  REQUIRE(routes().size() >= 30);
  for (const auto& route : routes()) {
    const auto path = example(route.pattern);
    INFO(path);
    const auto m = match_route(path);
    REQUIRE(m);
    CHECK(m->route == &route);
    CHECK(dialect_of(path) == route.dialect);
    // A call has a handler unless another worker answers it (the topic browser).
    const MarketStore store;
    const Request r{.path = path};
    if (route.session == Session::call)
      CHECK((route.handle != nullptr) != (runs_on(route, r, {store, 0}) == Runs::browser));
    else
      CHECK(route.handle == nullptr);
  }
  const auto coin = match_route("/coingecko/api/v3/coins/ripple/market_chart/range");
  REQUIRE(coin);
  CHECK(coin->route->pattern == "/coingecko/api/v3/coins/{}/market_chart/range");
  CHECK(coin->params == std::vector<std::string>{"ripple"});
  CHECK(match_route("/binance/ws/")->route->session == Session::binance_ws);  // ccxt's empty list
  CHECK_FALSE(match_route("/coingecko/api/v3/coins//ohlc"));
  CHECK_FALSE(match_route("/binance/api/v3/klinesx"));
  CHECK_FALSE(match_route("/v1/topicsx"));
  CHECK_FALSE(match_route("/index.html"));
}

TEST_CASE("routes: a call answers through the table - an unknown path gets its prefix's 404 - files are not calls") {
  MarketStore store;
  store.apply(minute(0));
  const auto answer = [&](const std::string& target) {
    const auto out = handle_api(*parse_target("GET", target), {store, 1'000});
    REQUIRE(out);
    return *out;
  };
  CHECK(answer("/binance/api/v3/ping").body == "{}");
  CHECK(answer("/binance/api/v3/time").body == R"({"serverTime":1000})");
  CHECK(answer("/coingecko/api/v3/ping").status == 200);
  CHECK(answer("/v1/candles?symbol=XRPETH&interval=1m").status == 200);
  CHECK(answer("/coingecko/api/v3/coins/nothing/ohlc?vs_currency=usd&days=1").status == 404);  // the coin's 404

  const auto binance = answer("/binance/api/v3/order");
  CHECK(binance.status == 404);
  CHECK(binance.body == R"({"code":-1000,"msg":"Not served by cryptoflow's gateway: /api/v3/order"})");
  CHECK(answer("/coingecko/api/v3/nft/list").status == 404);
  const auto native = answer("/v1/nothing");
  CHECK(native.status == 404);
  CHECK(native.body.find("no such endpoint: /v1/nothing") != std::string::npos);
  CHECK(answer("/binance/api/v3/ping?a=1&a=2").body ==
        R"({"code":-1101,"msg":"Duplicate values for a parameter detected."})");
  CHECK_FALSE(handle_api(*parse_target("GET", "/app.js"), {store, 0}));
  CHECK_FALSE(handle_api(*parse_target("GET", "/v1/topics"), {store, 0}));  // the browser's worker answers
}

TEST_CASE("routes: candle calls run on the history worker only when their range reaches before the store") {
  MarketStore store(StoreLimits{30, 10, 10});
  for (std::int64_t i = 0; i < 100; ++i) store.apply(minute(i * 60'000));  // keeps minutes 70..99
  const auto runs = [&](const std::string& target, bool influx) {
    const auto r = *parse_target("GET", target);
    return runs_on(*match_route(r.path)->route, r, {store, 0, influx});
  };
  for (const std::string call :
       {"/binance/api/v3/klines?symbol=XRPETH&interval=1m&", "/binance/api/v3/uiKlines?symbol=XRPETH&interval=1m&",
        "/v1/candles?symbol=XRPETH&interval=1m&"}) {
    INFO(call);
    const std::string start = call.starts_with("/v1") ? "start=" : "startTime=";
    CHECK(runs(call + start + std::to_string(80 * 60'000), true) == Runs::io);
    CHECK(runs(call + start + std::to_string(50 * 60'000), true) == Runs::history);
    CHECK(runs(call + start + std::to_string(50 * 60'000), false) == Runs::io);  // no INFLUX_URL
    CHECK(runs(call + "limit=30", true) == Runs::io);                            // the store holds 30
    CHECK(runs(call + "limit=31", true) == Runs::history);
    CHECK(runs(call + "limit=0", true) == Runs::io);  // an error answers at once
  }
  // Binance's 5m from the 1m the store holds: the 1m range decides.
  CHECK(runs("/binance/api/v3/klines?symbol=XRPETH&interval=5m&startTime=" + std::to_string(75 * 60'000), true) ==
        Runs::io);
  CHECK(runs("/binance/api/v3/klines?symbol=XRPETH&interval=5m&startTime=" + std::to_string(60 * 60'000), true) ==
        Runs::history);
}
