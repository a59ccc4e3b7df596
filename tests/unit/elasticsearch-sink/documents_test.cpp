#include "elasticsearch-sink/src/documents.hpp"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include "elasticsearch-sink/src/es_destination.hpp"

using namespace cryptoflow;
using namespace cryptoflow::elastic;

TEST_CASE("A candle becomes an index action with the contract's deterministic _id and exact numbers") {
  Candle c;
  c.source = "binance";
  c.symbol = "XRPETH";
  c.interval = "1m";
  c.start = 1570752000000;
  c.end = 1570752060000;
  c.open = *Decimal::parse("0.00141342");
  c.high = c.low = c.close = c.vwap = *Decimal::parse("0.00141342");
  c.volume = *Decimal::parse("1482.00000000");
  c.quote_volume = *Decimal::parse("2.0946");
  c.taker_buy_volume = *Decimal::parse("0");
  c.trades = 12;
  c.final = true;
  std::string out;
  append_bulk_index(out, "crypto-candles", c);
  CHECK(out ==
        "{\"index\":{\"_index\":\"crypto-candles\",\"_id\":\"XRPETH-1m-1570752000000\"}}\n"
        "{\"@timestamp\":\"2019-10-11T00:00:00.000Z\",\"source\":\"binance\",\"symbol\":\"XRPETH\",\"interval\":\"1m\","
        "\"end\":\"2019-10-11T00:01:00.000Z\","
        "\"open\":0.00141342,\"high\":0.00141342,\"low\":0.00141342,\"close\":0.00141342,\"volume\":1482.00000000,"
        "\"quote_volume\":2.0946,\"taker_buy_volume\":0,\"taker_buy_quote_volume\":0,\"vwap\":0.00141342,\"trades\":12,"
        "\"final\":true}\n");
}

TEST_CASE("Ticker and indicator ids come from their key and time - nulls stay null") {
  Ticker t;
  t.source = "coingecko";
  t.coin = "bitcoin";
  t.symbol = "btc";
  t.name = "Bitcoin";
  t.vs_currency = "usd";
  t.price = *Decimal::parse("16951.52");
  t.last_updated = 1673196580132;
  std::string out;
  append_bulk_index(out, "crypto-tickers", t);
  CHECK(out.find("\"_id\":\"bitcoin:usd-1673196580132\"") != std::string::npos);
  CHECK(out.find("\"price\":16951.52,\"market_cap\":null") != std::string::npos);
  CHECK(out.find("\"high_24h\":null,\"low_24h\":null") != std::string::npos);
  out.clear();
  t.high_24h = *Decimal::parse("16994.2");
  t.low_24h = *Decimal::parse("16923.76");
  append_bulk_index(out, "crypto-tickers", t);
  CHECK(out.find("\"high_24h\":16994.2,\"low_24h\":16923.76") != std::string::npos);
  out.clear();
  append_bulk_index(out, "crypto-indicators", Indicator{"ETHUSDT", "sma", "30s", 30000, *Decimal::parse("1.5"), 3});
  CHECK(out.find("\"_id\":\"ETHUSDT-30s-30000\"") != std::string::npos);
  CHECK(encode_record({}, "crypto", "crypto.other", "{}", out) == "no Elasticsearch index for topic crypto.other");
  CHECK(encode_record({}, "crypto", "crypto.candles", "{", out).find("malformed JSON") == 0);
}

TEST_CASE("Index templates are valid JSON with keyword - double - long and date mappings") {
  const auto templates = index_templates("crypto");
  REQUIRE(templates.size() == 3);
  CHECK(templates[0].name == "crypto-candles");
  for (const auto& t : templates) {
    rapidjson::Document d;
    d.Parse(t.body.c_str());
    REQUIRE_FALSE(d.HasParseError());
    CHECK(std::string(d["index_patterns"][0].GetString()) == t.name);
    const auto& props = d["template"]["mappings"]["properties"];
    CHECK(std::string(props["@timestamp"]["type"].GetString()) == "date");
    CHECK(std::string(props["symbol"]["type"].GetString()) == "keyword");
  }
  rapidjson::Document candles;
  candles.Parse(templates[0].body.c_str());
  CHECK(std::string(candles["template"]["mappings"]["properties"]["close"]["type"].GetString()) == "double");
  CHECK(std::string(candles["template"]["mappings"]["properties"]["trades"]["type"].GetString()) == "long");
}
