// The REST backfill against a scripted API: pages, retries, and what cannot be had.
#include "binance-producer/src/backfill.hpp"

#include <catch2/catch.hpp>
#include <map>

#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::binance;
using namespace std::chrono_literals;

TEST_CASE("REST backfill: pages of at most 1000 - retries - what it cannot get is counted") {
  std::vector<Trade> all;
  for (std::int64_t id = 1; id <= 2600; ++id) {
    Trade t;
    t.source = "binance";
    t.symbol = "BTCUSDT";
    t.trade_id = id;
    t.trade_time = t.event_time = 1'700'000'000'000'000 + id;  // microseconds
    t.price = *Decimal::parse("42000.5");
    t.quantity = *Decimal::parse("0.001");
    all.push_back(t);
  }
  std::vector<std::string> urls;
  int fail_next = 2;
  RestGet get = [&](const std::string& url) {
    urls.push_back(url);
    if (fail_next > 0) {
      --fail_next;
      return RestAnswer{429, "", 1ms};
    }
    const auto from = std::stoll(url.substr(url.find("fromId=") + 7));
    const auto limit = std::stoll(url.substr(url.find("limit=") + 6));
    std::string body = "[";
    for (const auto& t : all)
      if (t.trade_id >= from && t.trade_id < from + limit && t.trade_id <= 2500) {  // 2501.. not there yet
        if (body.size() > 1) body += ',';
        body += "{\"id\":" + std::to_string(t.trade_id) +
                ",\"price\":\"42000.5\",\"qty\":\"0.001\",\"quoteQty\":\"42\"," +
                "\"time\":" + std::to_string(t.trade_time) + ",\"isBuyerMaker\":false,\"isBestMatch\":true}";
      }
    return RestAnswer{200, body + "]", {}};
  };
  std::vector<std::chrono::milliseconds> slept;
  const auto r = backfill(get, "https://api.binance.com/api/v3", false, "BTCUSDT", 101, 2600, 5,
                          [&](std::chrono::milliseconds d) { slept.push_back(d); });
  REQUIRE(r.trades.size() == 2400);
  for (std::size_t i = 0; i < r.trades.size(); ++i) CHECK(r.trades[i].trade_id == 101 + static_cast<std::int64_t>(i));
  CHECK(r.trades[0].trade_time == 1'700'000'000'000 + 0);  // microseconds became milliseconds
  CHECK(r.missing == 100);
  CHECK_FALSE(r.error.empty());
  CHECK(urls[0] == "https://api.binance.com/api/v3/historicalTrades?symbol=BTCUSDT&fromId=101&limit=1000");
  CHECK(slept == std::vector<std::chrono::milliseconds>{1ms, 1ms});  // Retry-After honoured
  for (const auto& u : urls) CHECK(std::stoll(u.substr(u.find("limit=") + 6)) <= 1000);

  // A gap longer than max_pages pages: its newest ids are fetched, the older ones counted.
  urls.clear();
  const auto newest = backfill(
      get, "https://api.binance.com/api/v3", false, "BTCUSDT", 1, 2500, 5,
      [&](std::chrono::milliseconds d) { slept.push_back(d); }, 2);
  REQUIRE(newest.trades.size() == 2000);
  CHECK(newest.trades.front().trade_id == 501);
  CHECK(newest.trades.back().trade_id == 2500);
  CHECK(newest.missing == 500);
  CHECK(newest.error.find("longer than the backfill limit of 2000 trades") != std::string::npos);
  CHECK(urls[0] == "https://api.binance.com/api/v3/historicalTrades?symbol=BTCUSDT&fromId=501&limit=1000");
  CHECK_FALSE(newest.past_exchange_end);

  // Ids the exchange does not have: it answers with an empty page.
  const auto beyond = backfill(get, "https://api.binance.com/api/v3", false, "BTCUSDT", 2'400, 9'000, 5,
                               [&](std::chrono::milliseconds d) { slept.push_back(d); });
  CHECK(beyond.trades.size() == 101);  // 2400..2500
  CHECK(beyond.past_exchange_end);
  const auto down = backfill(
      [](const std::string&) {
        return RestAnswer{503, "", {}};
      },
      "https://x", false, "BTCUSDT", 1, 10, 5, [](std::chrono::milliseconds) {});
  CHECK_FALSE(down.past_exchange_end);  // no answer tells nothing

  std::vector<Trade> out;
  std::string error;
  CHECK(parse_rest_trades(R"([{"a":7,"p":"1.5","q":"2","f":10,"l":12,"T":1700000000000,"m":true,"M":true}])", true,
                          "XRPETH", 1, out, error));
  REQUIRE(out.size() == 1);
  CHECK(out[0].trade_count() == 3);
  CHECK_FALSE(parse_rest_trades(R"({"code":-1121,"msg":"Invalid symbol."})", false, "X", 1, out, error));
  CHECK(error == "not a JSON array");
  CHECK_FALSE(parse_rest_trades(R"([{"id":"7"}])", false, "X", 1, out, error));
}
