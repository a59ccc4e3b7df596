// What one client may take: Binance's request weights, the per-minute weight budget with 429
// then a ban (418) for a client that ignores its 429s, and who a request is from behind a proxy.
// The clock is the test's: no sleeping.
#include "gateway/src/limits.hpp"

#include <catch2/catch.hpp>

#include "gateway/src/routes.hpp"

using namespace cryptoflow::gateway;
using namespace std::chrono_literals;

namespace {

Request get(const std::string& target) {
  return *parse_target("GET", target);
}

}  // namespace

TEST_CASE("limits: Binance's request weights - ticker/24hr of every symbol is 80 and heavy") {
  CHECK(request_weight(get("/binance/api/v3/ping")) == 1);
  CHECK(request_weight(get("/binance/api/v3/klines?symbol=XRPETH&interval=1m")) == 2);
  CHECK(request_weight(get("/binance/api/v3/ticker/24hr?symbol=XRPETH")) == 2);
  CHECK(request_weight(get("/binance/api/v3/ticker/24hr")) == 80);
  CHECK(request_weight(get("/binance/api/v3/ticker/24hr?symbols=%5B%22A%22,%22B%22%5D")) == 2);
  CHECK(request_weight(get("/binance/api/v3/ticker/price")) == 4);
  CHECK(request_weight(get("/binance/api/v3/exchangeInfo")) == 20);
  CHECK(request_weight(get("/binance/api/v3/depth?symbol=X&limit=5000")) == 250);
  CHECK(request_weight(get("/v1/candles?symbol=X&interval=1m")) == 1);
  const MarketStore store;
  const auto runs = [&](const std::string& target) {
    const auto r = get(target);
    return runs_on(*match_route(r.path)->route, r, {store, 0});
  };
  CHECK(runs("/binance/api/v3/ticker/24hr") == Runs::heavy);
  CHECK(runs("/binance/api/v3/ticker/24hr?symbol=XRPETH") == Runs::io);
}

TEST_CASE("limits: past the weight per minute 429 until the next minute - ignored 429s earn a ban that doubles") {
  WeightLimiter limiter({.per_minute = 100, .ignored_429s = 3, .ban = 120s});
  const WeightLimiter::Clock::time_point minute(std::chrono::minutes(1000));
  auto now = minute + 10s;
  for (int i = 0; i < 50; ++i) CHECK(limiter.charge("a", 2, now, 0).status == 200);
  const auto full = limiter.charge("a", 2, now, 0);
  CHECK(full.status == 429);
  CHECK(full.used == 100);
  CHECK(full.retry_after_s == 50);                               // to the next minute
  CHECK(limiter.charge("b", 80, now, 0).status == 200);          // another address has its own budget
  CHECK(limiter.charge("a", 2, minute + 70s, 0).status == 200);  // a new minute
  CHECK(limiter.charge("a", 2, minute + 70s, 0).used == 4);

  // A client that keeps calling while limited is banned: 418 with when, for 2 minutes, then 4.
  now = minute + 60s + 60s + 1s;
  for (int i = 0; i < 50; ++i) (void)limiter.charge("a", 2, now, 0);
  int refused = 0;
  WeightLimiter::Decision d;
  for (; refused < 10; ++refused) {
    d = limiter.charge("a", 2, now, 1'000'000);
    if (d.status == 418) break;
    CHECK(d.status == 429);
  }
  CHECK(refused == 3);  // the three ignored 429s, then the ban
  CHECK(d.retry_after_s == 120);
  CHECK(d.banned_until_ms == 1'000'000 + 120'000);
  CHECK(limiter.charge("a", 1, now + 119s, 0).status == 418);  // banned whatever the weight
  CHECK(limiter.charge("a", 1, now + 121s, 0).status == 200);  // the ban is over, a new minute
  d = {};
  for (int i = 0; i < 100 && d.status != 418; ++i) d = limiter.charge("a", 2, now + 121s, 0);
  CHECK(d.status == 418);  // banned again: twice as long
  CHECK(d.retry_after_s == 240);

  WeightLimiter off({.per_minute = 0});
  for (int i = 0; i < 1000; ++i) REQUIRE(off.charge("a", 80, now, 0).status == 200);
}

TEST_CASE("limits: X-Forwarded-For names the client only from a trusted proxy - the right-most untrusted hop") {
  const std::vector<std::string> proxies{"10.0.0.1", "10.0.0.2"};
  CHECK(client_address("203.0.113.9", "1.2.3.4", proxies) == "203.0.113.9");  // not a proxy: its header is a claim
  CHECK(client_address("10.0.0.1", "", proxies) == "10.0.0.1");
  CHECK(client_address("10.0.0.1", "1.2.3.4", proxies) == "1.2.3.4");
  CHECK(client_address("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", proxies) == "1.2.3.4");  // a forged first hop
  CHECK(client_address("10.0.0.1", "10.0.0.2", proxies) == "10.0.0.1");
  CHECK(client_address("10.0.0.1", "1.2.3.4", {}) == "10.0.0.1");
}
