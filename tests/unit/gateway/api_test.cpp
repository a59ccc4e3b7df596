#include "gateway/src/api.hpp"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <random>

#include "coingecko-producer/src/markets.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::gateway;

namespace {

Response get(const MarketStore& store, const std::string& target, std::int64_t now = 1'700'000'000'000) {
  const auto r = parse_target("GET", target);
  REQUIRE(r.has_value());
  auto out = handle_api(*r, {store, now});
  REQUIRE(out.has_value());
  return *out;
}

rapidjson::Document json(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

Candle kline(std::int64_t start, bool final) {
  Candle c;
  c.source = "binance";
  c.symbol = "BNBBTC";
  c.interval = "1m";
  c.start = start;
  c.end = start + 60'000;
  c.open = *Decimal::parse("0.00100000");
  c.high = *Decimal::parse("0.00250000");
  c.low = *Decimal::parse("0.00150000");
  c.close = *Decimal::parse("0.00200000");
  c.volume = *Decimal::parse("1000.00000000");
  c.quote_volume = *Decimal::parse("1.00000000");
  c.taker_buy_volume = *Decimal::parse("500.00000000");
  c.taker_buy_quote_volume = *Decimal::parse("0.500000000000000000");  // 18 places: printed with 8
  c.vwap = *Decimal::parse("0.001");
  c.trades = 100;
  c.final = final;
  return c;
}

}  // namespace

TEST_CASE("api: a request target is split and percent-decoded - a bad escape or a NUL is refused") {
  const auto r = parse_target("GET", "/binance/api/v3/ticker/price?symbols=%5B%22BTCUSDT%22%5D&a=b+c&e=&x");
  REQUIRE(r.has_value());
  CHECK(r->path == "/binance/api/v3/ticker/price");
  CHECK(r->query.at("symbols") == R"(["BTCUSDT"])");
  CHECK(r->query.at("a") == "b c");
  CHECK(r->query.at("e").empty());
  CHECK(r->query.contains("x"));
  CHECK_FALSE(parse_target("GET", "/v1/candles?symbol=%G1").has_value());
  CHECK_FALSE(parse_target("GET", "/v1/candles?symbol=%2").has_value());
  CHECK_FALSE(parse_target("GET", "/v1/%00").has_value());
  CHECK_FALSE(handle_api(*parse_target("GET", "/index.html"), {MarketStore{}, 0}).has_value());
}

TEST_CASE("binance: klines have Binance's documented array shape with the exact digits") {
  MarketStore s;
  s.apply(kline(1'499'040'000'000, true));
  const auto r = get(s, "/binance/api/v3/klines?symbol=BNBBTC&interval=1m");
  CHECK(r.status == 200);
  // The documented example row, with the two fields cryptoflow does not compute as "0".
  CHECK(r.body == R"([[1499040000000,"0.00100000","0.00250000","0.00150000","0.00200000","1000.00000000",)"
                  R"(1499040059999,"1.00000000",100,"500.00000000","0.50000000","0"]])");
  CHECK(get(s, "/binance/api/v3/uiKlines?symbol=bnbbtc&interval=1m").body == r.body);
}

TEST_CASE("binance: klines refuse what Binance refuses, with its codes") {
  MarketStore s;
  s.apply(kline(0, true));
  const auto code = [&](const std::string& target) {
    const auto r = get(s, target);
    CHECK(r.status == 400);
    return json(r.body)["code"].GetInt();
  };
  CHECK(code("/binance/api/v3/klines?interval=1m") == -1102);
  CHECK(code("/binance/api/v3/klines?symbol=BNBBTC") == -1102);
  CHECK(code("/binance/api/v3/klines?symbol=BNBBTC&interval=2m") == -1120);
  CHECK(code("/binance/api/v3/klines?symbol=BNBBTC&interval=1m&limit=1001") == -1100);
  CHECK(code("/binance/api/v3/klines?symbol=BNBBTC&interval=1m&limit=0") == -1100);
  CHECK(code("/binance/api/v3/klines?symbol=BNBBTC&interval=1m&startTime=abc") == -1100);
  CHECK(code("/binance/api/v3/klines?symbol=NOPE&interval=1m") == -1121);
  CHECK(code("/binance/api/v3/ticker/price?symbol=NOPE") == -1121);
  CHECK(code("/binance/api/v3/ticker/price?symbols=BNBBTC") == -1100);
  CHECK(get(s, "/binance/api/v3/nothing").status == 404);
  // Binance's own answers for a reversed range and a parameter given twice.
  const auto reversed = get(s, "/binance/api/v3/klines?symbol=BNBBTC&interval=1m&startTime=120000&endTime=60000");
  CHECK(reversed.status == 400);
  CHECK(json(reversed.body)["code"].GetInt() == -1023);
  CHECK(std::string(json(reversed.body)["msg"].GetString()) == "Start time is greater than end time.");
  const auto twice = get(s, "/binance/api/v3/klines?symbol=BNBBTC&interval=1m&interval=5m");
  CHECK(twice.status == 400);
  CHECK(json(twice.body)["code"].GetInt() == -1101);
  CHECK(std::string(json(twice.body)["msg"].GetString()) == "Duplicate values for a parameter detected.");
  const auto native_twice = get(s, "/v1/candles?symbol=BNBBTC&symbol=ETHBTC&interval=1m");
  CHECK(native_twice.status == 400);
  CHECK(std::string(json(native_twice.body)["error"]["parameter"].GetString()) == "symbol");
}

TEST_CASE("api: an answer that echoes the request is valid UTF-8 JSON whatever bytes were sent") {
  MarketStore s;
  for (const auto* target : {"/binance/api/v3/%FF%FEnothing", "/v1/%C0%AF", "/coingecko/api/v3/%ED%A0%80x",
                             "/v1/candles?symbol=%F8%88%80%80%80&interval=1m"}) {
    const auto r = get(s, target);
    INFO(target);
    CHECK(r.status >= 400);
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(r.body.c_str());
    CHECK_FALSE(d.HasParseError());
    CHECK(r.body.find("\xEF\xBF\xBD") != std::string::npos);  // U+FFFD where the bad bytes were
  }
  CHECK(printable("ok \xC3\xA9 \xF0\x9F\x98\x80") == "ok \xC3\xA9 \xF0\x9F\x98\x80");  // valid: unchanged
  CHECK(printable("a\x01\nb") == "ab");                                                // controls dropped
}

TEST_CASE("binance: the kline event has the WebSocket stream's shape - x is final") {
  const auto e = json(binance_kline_event(kline(1'672'515'780'000, false), 1'672'515'782'136));
  CHECK(std::string(e["e"].GetString()) == "kline");
  CHECK(e["E"].GetInt64() == 1'672'515'782'136);
  CHECK(std::string(e["s"].GetString()) == "BNBBTC");
  const auto& k = e["k"];
  CHECK(k["t"].GetInt64() == 1'672'515'780'000);
  CHECK(k["T"].GetInt64() == 1'672'515'839'999);
  CHECK(std::string(k["i"].GetString()) == "1m");
  CHECK(std::string(k["o"].GetString()) == "0.00100000");
  CHECK(std::string(k["v"].GetString()) == "1000.00000000");
  CHECK(k["n"].GetInt() == 100);
  CHECK_FALSE(k["x"].GetBool());
  CHECK(std::string(k["V"].GetString()) == "500.00000000");
  for (const char* f : {"f", "L", "c", "h", "l", "q", "Q", "B"}) CHECK(k.HasMember(f));
  CHECK(json(binance_kline_event(kline(0, true), 0))["k"]["x"].GetBool());
  CHECK(binance_stream_name(kline(0, true)) == "bnbbtc@kline_1m");
}

TEST_CASE("binance: ticker/price for one symbol, a list, or all - exchangeInfo splits base and quote") {
  MarketStore s;
  s.apply(kline(0, true));
  auto eth = kline(0, true);
  eth.symbol = "XRPETH";
  eth.close = *Decimal::parse("0.00141342");
  s.apply(eth);
  CHECK(get(s, "/binance/api/v3/ticker/price?symbol=XRPETH").body == R"({"symbol":"XRPETH","price":"0.00141342"})");
  CHECK(get(s, R"(/binance/api/v3/ticker/price?symbols=["XRPETH","BNBBTC"])").body ==
        R"([{"symbol":"XRPETH","price":"0.00141342"},{"symbol":"BNBBTC","price":"0.00200000"}])");
  CHECK(json(get(s, "/binance/api/v3/ticker/price").body).Size() == 2);
  const auto info = json(get(s, "/binance/api/v3/exchangeInfo").body);
  REQUIRE(info["symbols"].Size() == 2);
  CHECK(std::string(info["symbols"][1]["baseAsset"].GetString()) == "XRP");
  CHECK(std::string(info["symbols"][1]["quoteAsset"].GetString()) == "ETH");
  CHECK(std::string(info["symbols"][1]["filters"][0]["tickSize"].GetString()) == "0.00000001");
  CHECK(get(s, "/binance/api/v3/ping").body == "{}");
  CHECK(get(s, "/binance/api/v3/time", 123).body == R"({"serverTime":123})");
}

TEST_CASE("binance: ticker/24hr sums the last 24 hours of windows") {
  MarketStore s;
  const std::int64_t now = 100 * 86'400'000LL;
  auto a = kline(now - 86'400'000 - 60'000, true);  // before the 24 hours: left out
  a.open = *Decimal::parse("1");
  s.apply(a);
  auto b = kline(now - 3'600'000, true);
  b.open = *Decimal::parse("2.00000000");
  b.close = *Decimal::parse("2.50000000");
  s.apply(b);
  auto c = kline(now - 60'000, false);
  c.open = *Decimal::parse("2.50000000");
  c.high = *Decimal::parse("3.00000000");
  c.close = *Decimal::parse("3.00000000");
  s.apply(c);
  const auto t = json(get(s, "/binance/api/v3/ticker/24hr?symbol=BNBBTC", now).body);
  CHECK(std::string(t["openPrice"].GetString()) == "2.00000000");
  CHECK(std::string(t["lastPrice"].GetString()) == "3.00000000");
  CHECK(std::string(t["priceChange"].GetString()) == "1.00000000");
  CHECK(std::string(t["priceChangePercent"].GetString()) == "50.000");
  CHECK(std::string(t["highPrice"].GetString()) == "3.00000000");
  CHECK(std::string(t["volume"].GetString()) == "2000.00000000");
  CHECK(t["count"].GetInt() == 200);
}

TEST_CASE("binance: a symbol with no trade in 24 hours answers its last price and no volume") {
  MarketStore s;
  const std::int64_t now = 100 * 86'400'000LL;
  auto traded = kline(now - 3 * 86'400'000, true);  // its last trade, three days ago
  traded.close = *Decimal::parse("0.00150000");
  s.apply(traded);
  for (std::int64_t t = now - 2 * 86'400'000; t < now; t += 3'600'000) {  // the processor's empty windows since
    auto empty = kline(t, true);
    empty.open = empty.high = empty.low = empty.close = traded.close;
    empty.volume = empty.quote_volume = empty.taker_buy_volume = Decimal::from_units(0, 8);
    empty.trades = 0;
    s.apply(empty);
  }
  for (const char* path : {"/binance/api/v3/ticker/24hr?symbol=BNBBTC", "/binance/api/v3/ticker?symbol=BNBBTC",
                           "/binance/api/v3/ticker/tradingDay?symbol=BNBBTC"}) {
    INFO(path);
    const auto t = json(get(s, path, now).body);
    CHECK(std::string(t["lastPrice"].GetString()) == "0.00150000");  // was "0.00000000"
    CHECK(std::string(t["openPrice"].GetString()) == "0.00150000");
    CHECK(std::string(t["priceChange"].GetString()) == "0.00000000");
    CHECK(std::string(t["volume"].GetString()) == "0.00000000");
    CHECK(t["count"].GetInt() == 0);
    CHECK(t["firstId"].GetInt() == -1);
    CHECK(t["openTime"].GetInt64() > 0);  // was 0
  }
}

TEST_CASE("binance: rolling and trading-day tickers - windowSize, timeZone, MINI - and what they refuse") {
  MarketStore s;
  const std::int64_t now = 100 * 86'400'000LL + 10 * 3'600'000;  // 10:00 UTC
  for (std::int64_t h = 20; h >= 1; --h) {
    auto c = kline(now - h * 3'600'000, true);
    c.open = c.high = c.low = c.close = Decimal::from_units(100 + (20 - h), 0);
    s.apply(c);
  }
  // The last 4 hours: windows opening at 06:00..09:00.
  const auto four = json(get(s, "/binance/api/v3/ticker?symbol=BNBBTC&windowSize=4h&type=MINI", now).body);
  CHECK(std::string(four["openPrice"].GetString()) == "116.00000000");
  CHECK(std::string(four["lastPrice"].GetString()) == "119.00000000");
  CHECK(four["count"].GetInt() == 400);
  CHECK_FALSE(four.HasMember("priceChange"));  // MINI
  // The trading day of UTC+8 opened at 16:00 UTC yesterday (held from 14:00: 100, 101, then 102).
  const auto day = json(get(s, "/binance/api/v3/ticker/tradingDay?symbol=BNBBTC&timeZone=8", now).body);
  CHECK(std::string(day["openPrice"].GetString()) == "102.00000000");
  const auto utc_day = json(get(s, "/binance/api/v3/ticker/tradingDay?symbol=BNBBTC", now).body);
  CHECK(std::string(utc_day["openPrice"].GetString()) == "110.00000000");  // 00:00 UTC
  CHECK(utc_day.HasMember("priceChange"));
  for (const char* bad :
       {"/binance/api/v3/ticker?symbol=BNBBTC&windowSize=60m", "/binance/api/v3/ticker?symbol=BNBBTC&windowSize=8d",
        "/binance/api/v3/ticker?symbol=BNBBTC&type=FAT",
        "/binance/api/v3/ticker/tradingDay?symbol=BNBBTC&timeZone=+15:00"}) {
    INFO(bad);
    CHECK(get(s, bad, now).status == 400);
  }
  // Every symbol at once is ticker/24hr's alone (run on a worker); these need symbol or symbols.
  for (const char* all : {"/binance/api/v3/ticker", "/binance/api/v3/ticker/tradingDay?type=MINI"}) {
    INFO(all);
    const auto r = get(s, all, now);
    CHECK(r.status == 400);
    CHECK(json(r.body)["code"].GetInt() == -1102);
  }
}

TEST_CASE("coingecko: simple/price has CoinGecko's documented shape with the digits that came in") {
  MarketStore s;
  Ticker t;
  t.coin = "ethereum";
  t.vs_currency = "usd";
  t.price = Decimal::parse("1498.64");
  t.market_cap = Decimal::parse("180000000000");
  t.volume_24h = Decimal::parse("5.5e3");
  t.change_24h_pct = Decimal::parse("-1.25");
  t.last_updated = 1'711'356'300'123;
  s.apply(t);
  // GetPrices.txt: CoinGecko's own answer for ids=ethereum&vs_currencies=usd.
  const auto recorded = test::read_file(test::fixture("coingecko/GetPrices.txt"));
  CHECK(get(s, "/coingecko/api/v3/simple/price?ids=ethereum&vs_currencies=usd").body ==
        recorded.substr(recorded.find('{')));
  CHECK(get(s,
            "/coingecko/api/v3/simple/price?ids=ethereum,nope&vs_currencies=usd,eur&include_market_cap=true&"
            "include_24hr_vol=true&include_24hr_change=true&include_last_updated_at=true")
            .body ==
        R"({"ethereum":{"usd":1498.64,"usd_market_cap":180000000000,"usd_24h_vol":5500,"usd_24h_change":-1.25,)"
        R"("last_updated_at":1711356300}})");
  CHECK(get(s, "/coingecko/api/v3/simple/price?ids=ethereum").status == 400);
}

TEST_CASE("coingecko: coins/markets from the producer's tickers keeps CoinGecko's order, ranks and digits") {
  const auto body = test::read_file(test::fixture("coingecko/GetMarketsAsync.txt"));
  const auto parsed = coingecko::parse_markets(body, "usd", 1);
  REQUIRE(parsed.tickers.size() == 100);
  MarketStore s;
  for (const auto& t : parsed.tickers) s.apply(t);
  rapidjson::Document recorded;
  recorded.Parse<rapidjson::kParseNumbersAsStringsFlag>(body.c_str());
  const auto page = [&](const std::string& q) {
    rapidjson::Document d;
    d.Parse<rapidjson::kParseNumbersAsStringsFlag>(
        get(s, "/coingecko/api/v3/coins/markets?vs_currency=usd" + q).body.c_str());
    return d;
  };
  const auto all = page("&per_page=250");
  REQUIRE(all.Size() == 100);
  for (rapidjson::SizeType i = 0; i < 100; ++i) {
    INFO(recorded[i]["id"].GetString());
    CHECK(std::string(all[i]["id"].GetString()) == recorded[i]["id"].GetString());
    CHECK(std::string(all[i]["market_cap_rank"].GetString()) == recorded[i]["market_cap_rank"].GetString());
    CHECK(*Decimal::parse(all[i]["current_price"].GetString()) ==
          *Decimal::parse(recorded[i]["current_price"].GetString()));
  }
  const auto second = page("&per_page=10&page=2");
  REQUIRE(second.Size() == 10);
  CHECK(std::string(second[0]["id"].GetString()) == recorded[10]["id"].GetString());
  const auto picked = page("&ids=ethereum,bitcoin");
  REQUIRE(picked.Size() == 2);
  CHECK(std::string(picked[0]["id"].GetString()) == "bitcoin");
  CHECK(get(s, "/coingecko/api/v3/coins/markets").status == 400);
  CHECK(get(s, "/coingecko/api/v3/coins/markets?vs_currency=usd&per_page=251").status == 400);
}

TEST_CASE("native: errors name the parameter - 404 for what is not held") {
  MarketStore s;
  s.apply(kline(0, true));
  const auto bad = get(s, "/v1/candles?symbol=BNBBTC&interval=1m&limit=5000");
  CHECK(bad.status == 400);
  CHECK(bad.body == R"({"error":{"status":400,"message":"limit must be 1..1500","parameter":"limit"}})");
  CHECK(get(s, "/v1/candles?symbol=ETHBTC&interval=1m").status == 404);
  CHECK(get(s, "/v1/candles?symbol=BNBBTC&interval=5m").status == 404);
  CHECK(get(s, "/v1/candles?interval=1m").status == 400);
  const auto ok = json(get(s, "/v1/candles?symbol=BNBBTC&interval=1m").body);
  REQUIRE(ok["candles"].Size() == 1);
  CHECK(std::string(ok["candles"][0]["close"].GetString()) == "0.00200000");
  CHECK(json(get(s, "/v1/symbols").body)["symbols"][0]["intervals"][0] == "1m");
  CHECK(get(s, "/v1/nothing").status == 404);
}

TEST_CASE("api: 100,000 mutated request targets get a JSON answer or a refusal - never a crash") {
  MarketStore s;
  s.apply(kline(0, true));
  Ticker bitcoin;
  bitcoin.coin = "bitcoin";
  bitcoin.vs_currency = "usd";
  bitcoin.price = Decimal::parse("16951.52");
  for (std::int64_t t = 1'699'000'000'000; t < 1'700'000'000'000; t += 600'000) {  // 11 days of 10 minutes
    bitcoin.last_updated = t;
    s.apply(bitcoin);
  }
  const std::vector<std::string> seeds{
      "/binance/api/v3/klines?symbol=BNBBTC&interval=1m&startTime=0&endTime=999999&limit=5",
      R"(/binance/api/v3/ticker/price?symbols=["BNBBTC","X"])",
      "/binance/api/v3/ticker/24hr?symbol=BNBBTC",
      "/binance/api/v3/exchangeInfo?symbols=%5B%22BNBBTC%22%5D",
      "/coingecko/api/v3/simple/price?ids=bitcoin&vs_currencies=usd&include_market_cap=true",
      "/coingecko/api/v3/coins/markets?vs_currency=usd&per_page=2&page=3&order=volume_asc",
      "/coingecko/api/v3/coins/bitcoin/market_chart?vs_currency=usd&days=1.5&interval=daily",
      "/coingecko/api/v3/coins/bitcoin/market_chart/range?vs_currency=usd&from=1699000000&to=1699900000.5",
      "/coingecko/api/v3/coins/bitcoin/ohlc?vs_currency=usd&days=7",
      "/coingecko/api/v3/coins/list?include_platform=true",
      "/v1/candles?symbol=BNBBTC&interval=1m&start=0&end=1&limit=3",
      "/v1/tickers?vs_currency=usd&coins=a,b"};
  std::mt19937_64 rng(7);
  const std::string alphabet = "%[]\",=&?/0123456789abcdefXYZ-+_.~ \x7f\xff";
  int answered = 0;
  for (int i = 0; i < 100'000; ++i) {
    auto t = seeds[rng() % seeds.size()];
    for (int m = 0, n = 1 + static_cast<int>(rng() % 4); m < n; ++m) {
      const auto at = rng() % (t.size() + 1);
      switch (rng() % 3) {
        case 0: t.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        case 1:
          if (at < t.size()) t.erase(at, 1);
          break;
        default:
          if (at < t.size()) t[at] = alphabet[rng() % alphabet.size()];
      }
    }
    const auto r = parse_target("GET", t);
    if (!r) continue;
    if (const auto out = handle_api(*r, {s, 1'700'000'000'000})) {
      rapidjson::Document d;
      d.Parse(out->body.c_str());
      INFO(t);
      REQUIRE_FALSE(d.HasParseError());
      REQUIRE(out->status >= 200);
      REQUIRE(out->status < 500);
      ++answered;
    }
  }
  CHECK(answered > 50'000);
}
