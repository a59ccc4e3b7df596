#include "coingecko-producer/src/markets.hpp"

#include <catch2/catch.hpp>
#include <random>

#include "coingecko-producer/src/budget.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::coingecko;

namespace {
std::string markets_fixture() {
  return test::read_file(test::fixture("coingecko/GetMarketsAsync.txt"));
}
const Ticker& find(const MarketsParse& p, const std::string& coin) {
  for (const auto& t : p.tickers)
    if (t.coin == coin) return t;
  FAIL("no ticker for " << coin);
  throw std::logic_error("unreachable");
}
}  // namespace

TEST_CASE("A real /coins/markets answer gives one exact ticker per coin") {
  const auto p = parse_markets(markets_fixture(), "usd", 42);
  REQUIRE(p.error.empty());
  CHECK(p.skipped == 0);
  REQUIRE(p.tickers.size() == 100);
  const auto& btc = find(p, "bitcoin");
  CHECK(btc.source == "coingecko");
  CHECK(btc.symbol == "btc");
  CHECK(btc.name == "Bitcoin");
  CHECK(btc.vs_currency == "usd");
  CHECK(btc.price->to_string() == "16951.52");
  CHECK(btc.market_cap->to_string() == "326407877229");
  CHECK(btc.volume_24h->to_string() == "10076421985");
  CHECK(btc.change_24h_pct->to_string() == "0.14088");
  CHECK(btc.high_24h->to_string() == "16994.2");
  CHECK(btc.low_24h->to_string() == "16923.76");
  CHECK(btc.last_updated == 1673196580132);
  CHECK(btc.received_time == 42);
  CHECK(find(p, "shiba-inu").price->to_string() == "0.00000845");  // digits kept, no double
}

TEST_CASE("Exponent forms and nulls keep their value") {
  auto body = markets_fixture();
  const std::string from = "\"current_price\": 0.00000845";
  body.replace(body.find(from), from.size(), "\"current_price\": 8.45e-6");
  const std::string cap = "\"market_cap\": 326407877229";
  body.replace(body.find(cap), cap.size(), "\"market_cap\": null");
  const auto p = parse_markets(body, "eur", 0);
  REQUIRE(p.error.empty());
  CHECK(*find(p, "shiba-inu").price == *Decimal::parse("0.00000845"));
  CHECK_FALSE(find(p, "bitcoin").market_cap.has_value());
  CHECK(to_json(find(p, "bitcoin")).find("\"market_cap\":null") != std::string::npos);
}

TEST_CASE("The one-coin answer with its request header lines stripped") {
  auto text = test::read_file(test::fixture("coingecko/GetMarkets.txt"));
  for (int i = 0; i < 3; ++i) text.erase(0, text.find('\n') + 1);  // method, path, auth flag
  const auto p = parse_markets(text, "usd", 0);
  REQUIRE(p.tickers.size() == 1);
  CHECK(p.tickers[0].price->to_string() == "70187");
  CHECK(p.tickers[0].last_updated == 1712508571736);
}

TEST_CASE("HTML error pages - truncated JSON and broken coins are errors - never a crash") {
  CHECK_FALSE(parse_markets("<html><body>502 Bad Gateway</body></html>", "usd", 0).error.empty());
  const auto body = markets_fixture();
  CHECK(parse_markets(body.substr(0, body.size() / 2), "usd", 0).error.find("not JSON") == 0);
  CHECK(parse_markets("{\"status\":{\"error_code\":429}}", "usd", 0).error == "answer is not a JSON array");
  const auto p = parse_markets(R"([{"symbol":"x"},{"id":"a","last_updated":"yesterday"},)"
                               R"({"id":"b","current_price":"twelve","last_updated":"2023-01-08T16:49:40.132Z"},)"
                               R"({"id":"c","last_updated":"2023-01-08T16:49:40Z"}, 7])",
                               "usd", 0);
  CHECK(p.tickers.size() == 1);
  CHECK(p.tickers[0].coin == "c");
  CHECK(p.skipped == 4);
  CHECK(p.first_skip == "field 'id': missing");
  // Every prefix of a real answer: an error or a parse, never a crash.
  for (std::size_t n = 0; n < 3000; n += 7) (void)parse_markets(body.substr(0, n), "usd", 0);
}

TEST_CASE("ISO 8601 times") {
  CHECK(parse_iso8601_ms("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_iso8601_ms("2023-01-08T16:49:40.1Z") == 1673196580100);
  CHECK(parse_iso8601_ms("2023-01-08T16:49:40.123456Z") == 1673196580123);
  CHECK_FALSE(parse_iso8601_ms("2023-01-08 16:49:40Z").has_value());
  CHECK_FALSE(parse_iso8601_ms("2023-13-08T16:49:40Z").has_value());
  CHECK_FALSE(parse_iso8601_ms("2023-01-08T16:49:40.Z").has_value());
  CHECK_FALSE(parse_iso8601_ms("").has_value());
}

TEST_CASE("CoinGecko error bodies") {
  auto e = parse_api_error(R"({"status":{"error_code":10010,"error_message":"use pro-api"}})");
  REQUIRE(e);
  CHECK(e->code == 10010);
  CHECK(e->message == "use pro-api");
  e = parse_api_error(R"({"error":"coin not found"})");
  REQUIRE(e);
  CHECK(e->message == "coin not found");
  CHECK_FALSE(parse_api_error("<html>").has_value());
}
