#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <catch2/catch.hpp>
#include <climits>
#include <string>
#include <vector>

#include "cryptoflow/messages/messages.hpp"

using namespace cryptoflow;

static Trade sample_trade() {
  Trade t;
  t.source = "binance";
  t.symbol = "XRPETH";
  t.trade_id = 13519807;
  t.price = *Decimal::parse("0.00141342");
  t.quantity = *Decimal::parse("23.00000000");
  t.buyer_is_maker = true;
  t.event_time = 1570752011620;
  t.trade_time = 1570752011620;
  t.received_time = 1570752011700;
  t.first_trade_id = 15373518;
  t.last_trade_id = 15373518;
  return t;
}

TEST_CASE("Trade round-trips through JSON with exact decimal strings") {
  const auto t = sample_trade();
  const auto json = to_json(t);
  CHECK(json.find("\"price\":\"0.00141342\"") != std::string::npos);
  CHECK(json.find("\"quantity\":\"23.00000000\"") != std::string::npos);
  const auto back = decode_trade(json);
  REQUIRE(back);
  CHECK(*back.value == t);
  CHECK(check_trade(t).empty());
}

TEST_CASE("Candle - ticker and indicator round-trip") {
  Candle c;
  c.source = "binance";
  c.symbol = "BTCUSDT";
  c.interval = "1m";
  c.start = 60000;
  c.end = 120000;
  c.open = *Decimal::parse("1.1");
  c.high = *Decimal::parse("1.3");
  c.low = *Decimal::parse("1.0");
  c.close = *Decimal::parse("1.2");
  c.volume = *Decimal::parse("10.00000000");
  c.quote_volume = *Decimal::parse("11.5");
  c.taker_buy_volume = *Decimal::parse("4");
  c.vwap = *Decimal::parse("1.15");
  c.trades = 7;
  c.final = true;
  auto cb = decode_candle(to_json(c));
  REQUIRE(cb);
  CHECK(*cb.value == c);

  Ticker k;
  k.source = "coingecko";
  k.coin = "bitcoin";
  k.symbol = "btc";
  k.name = "Bitcoin \"BTC\"";
  k.vs_currency = "usd";
  k.price = *Decimal::parse("16954.31");
  k.change_24h_pct = *Decimal::parse("-0.0000000321");
  k.high_24h = *Decimal::parse("16994.2");
  k.last_updated = 1673196546000;
  k.received_time = 1673196550000;
  auto kb = decode_ticker(to_json(k));
  REQUIRE(kb);
  CHECK(*kb.value == k);
  CHECK_FALSE(kb.value->market_cap.has_value());  // null stays null
  CHECK_FALSE(kb.value->low_24h.has_value());
  // A record from before high_24h and low_24h existed: read, without them.
  auto old = to_json(k);
  old.erase(old.find(",\"high_24h\""), old.find(",\"last_updated\"") - old.find(",\"high_24h\""));
  REQUIRE(old.find("24h\":") != std::string::npos);
  REQUIRE(old.find("high") == std::string::npos);
  auto ob = decode_ticker(old);
  REQUIRE(ob);
  CHECK_FALSE(ob.value->high_24h.has_value());
  CHECK(ob.value->price == k.price);

  Indicator i{"ETHUSDT", "sma", "30s", 1000, *Decimal::parse("1234.5"), 12};
  auto ib = decode_indicator(to_json(i));
  REQUIRE(ib);
  CHECK(*ib.value == i);
}

TEST_CASE("Decoders ignore unknown fields") {
  auto json = to_json(sample_trade());
  json.insert(1, "\"future_field\":{\"x\":[1,2]},");
  CHECK(decode_trade(json));
}

TEST_CASE("Decoders reject missing and ill-typed fields - naming the field") {
  const auto good = to_json(sample_trade());
  auto without = [&](const std::string& field) {
    auto j = good;
    const auto at = j.find("\"" + field + "\":");
    const auto comma = j.find(',', at);
    j.erase(at, comma - at + 1);
    return j;
  };
  CHECK(decode_trade(without("price")).error == "field 'price': missing");
  CHECK(decode_trade(without("symbol")).error == "field 'symbol': missing");

  auto replace = [&](const std::string& from, const std::string& to) {
    auto j = good;
    j.replace(j.find(from), from.size(), to);
    return j;
  };
  CHECK(decode_trade(replace("\"0.00141342\"", "0.00141342")).error == "field 'price': expected a decimal string");
  CHECK(decode_trade(replace("\"0.00141342\"", "\"1,5\"")).error == "field 'price': not a decimal number");
  CHECK(decode_trade(replace("13519807", "\"13519807\"")).error == "field 'trade_id': expected an integer");
  CHECK(decode_trade(replace("true", "1")).error == "field 'buyer_is_maker': expected true or false");
  CHECK(decode_trade(replace("\"XRPETH\"", "null")).error == "field 'symbol': expected a string");
}

TEST_CASE("Decoders reject malformed and hostile input without crashing") {
  CHECK(decode_trade("").error.find("malformed JSON") == 0);
  CHECK(decode_trade("{\"price\":").error.find("malformed JSON") == 0);
  CHECK(decode_trade("[1,2,3]").error == "message is not a JSON object");
  CHECK(decode_trade(std::string(kMaxMessageBytes + 1, ' ')).error.find("exceeds the limit") != std::string::npos);
  const std::string deep(kMaxMessageBytes, '[');  // a nesting bomb: iterative parsing, no stack overflow
  CHECK_FALSE(decode_candle(deep));
  // Every prefix of a valid message is rejected cleanly (a cheap corpus-driven fuzz).
  const auto good = to_json(sample_trade());
  for (std::size_t n = 0; n < good.size(); ++n) CHECK_FALSE(decode_trade(good.substr(0, n)));
}

TEST_CASE("check_trade enforces what the schema states beyond types") {
  auto t = sample_trade();
  t.symbol = "xrpeth";
  CHECK(check_trade(t) == "field 'symbol': not upper-case letters and digits");
  t = sample_trade();
  t.price = Decimal();
  CHECK(check_trade(t) == "field 'price': not positive");
  t = sample_trade();
  t.last_trade_id = 1;
  CHECK(check_trade(t) == "field 'last_trade_id': below first_trade_id");
  auto bounded = sample_trade();
  bounded.symbol = std::string(30, 'X');
  CHECK(check_trade(bounded).empty());
  bounded.symbol = std::string(31, 'X');
  CHECK(check_trade(bounded) == "field 'symbol': longer than 30 characters");
  bounded.symbol = "BTCUSDT";
  bounded.source = std::string(33, 's');
  CHECK(check_trade(bounded) == "field 'source': longer than 32 characters");
}

TEST_CASE("The encoders write what RapidJSON's Writer writes - escapes, UTF-8, every field - appended to a buffer") {
  // The reference: RapidJSON's Writer, the encoder the messages were written with before.
  const auto reference = [](const Ticker& m) {
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> w(b);
    const auto str = [&](const char* k, const std::string& v) {
      w.Key(k);
      w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    };
    const auto dec = [&](const char* k, const std::optional<Decimal>& d) {
      w.Key(k);
      if (d)
        w.String(d->to_string().c_str());
      else
        w.Null();
    };
    w.StartObject();
    str("source", m.source);
    str("coin", m.coin);
    str("symbol", m.symbol);
    str("name", m.name);
    str("vs_currency", m.vs_currency);
    dec("price", m.price);
    dec("market_cap", m.market_cap);
    dec("volume_24h", m.volume_24h);
    dec("change_24h_pct", m.change_24h_pct);
    dec("high_24h", m.high_24h);
    dec("low_24h", m.low_24h);
    w.Key("last_updated");
    w.Int64(m.last_updated);
    w.Key("received_time");
    w.Int64(m.received_time);
    w.EndObject();
    return std::string(b.GetString(), b.GetSize());
  };
  Ticker t;
  t.source = "coingecko";
  t.coin = "quote\"back\\slash/";
  t.symbol = std::string("ctl\x01\x08\t\n\x0c\r\x1f\x7f") + std::string(1, '\0');
  t.name = "Ünïcödé 币 \xF0\x9F\x9A\x80";
  t.vs_currency = "";
  t.price = *Decimal::parse("-0.000000012345");
  t.market_cap = std::nullopt;
  t.volume_24h = *Decimal::parse("123456789012345678901234.5");
  t.change_24h_pct = *Decimal::parse("0");
  t.last_updated = INT64_MIN;
  t.received_time = INT64_MAX;
  CHECK(to_json(t) == reference(t));

  std::string buffer = "kept:";
  Candle c;
  c.symbol = "BTCUSDT";
  append_json(buffer, c);
  CHECK(buffer == "kept:" + to_json(c));
  buffer.clear();
  append_json(buffer, Indicator{"X", "sma", "30s", 1, *Decimal::parse("1.5"), 2});
  CHECK(buffer == R"({"symbol":"X","kind":"sma","window":"30s","end":1,"value":"1.5","trades":2})");
}

TEST_CASE("decode_trade's flat scan decodes every edge of its shape as the DOM decoder does") {
  // decode_trade tokenizes the producers' flat shape itself and hands anything else to RapidJSON;
  // either way value and error must be the DOM decoder's (frame_fuzz checks mutated inputs too).
  const std::string body =
      R"("source":"binance","symbol":"XRPETH","trade_id":13519807,"price":"0.00141342","quantity":"23.00000000",)"
      R"("buyer_is_maker":true,"event_time":1570752011620,"trade_time":1570752011620,"received_time":1570752011700)";
  const std::vector<std::string> inputs{
      "{" + body + "}",
      " \t\r\n{ " + body + " } \n",
      "{" + body + R"(,"first_trade_id":null,"last_trade_id":null})",
      "{" + body + R"(,"first_trade_id":-0,"last_trade_id":9223372036854775807})",
      "{" + body + R"(,"first_trade_id":-9223372036854775808,"last_trade_id":1})",
      "{" + body + R"(,"first_trade_id":9223372036854775808,"last_trade_id":1})",
      "{" + body + R"(,"first_trade_id":-9223372036854775809,"last_trade_id":1})",
      "{" + body + R"(,"first_trade_id":12345678901234567890,"last_trade_id":1})",
      "{" + body + R"(,"first_trade_id":01,"last_trade_id":1})",
      "{" + body + R"(,"first_trade_id":1.0,"last_trade_id":1})",
      "{" + body + R"(,"first_trade_id":1e2,"last_trade_id":1})",
      "{" + body + R"(,"first_trade_id":-,"last_trade_id":1})",
      "{" + body + R"(,"trade_id":1})",  // a repeated key: the first counts
      R"({"symbol":"BTC\u0055SDT",)" + body.substr(body.find("\"trade_id\"")) + "}",
      "{" + body + R"(,"x":"a\"b"})",
      "{" + body + ",\"x\":\"\xc3\xa9\xff\"}",
      "{" + body + R"(,"x":{"y":1}})",
      "{" + body + R"(,"x":[1,2]})",
      "{" + body + R"(,"x":tru})",
      "{" + body + R"(,"x":nul})",
      "{" + body + ",}",
      "{" + body + "}x",
      "{" + body + "}{}",
      "{" + body + std::string("}\0x", 3),
      "{" + body,
      "{" + body + ",\"x\":\"a\tb\"}",
      "{}",
      "[]",
      "",
      R"({"price":"1"})",
      R"({"source":1})",
  };
  for (const auto& in : inputs) {
    INFO(in);
    const auto fast = decode_trade(in);
    const auto dom = detail::decode_trade_dom(in);
    CHECK(fast.error == dom.error);
    REQUIRE(fast.value.has_value() == dom.value.has_value());
    if (fast.value) CHECK(*fast.value == *dom.value);
  }
  CHECK(decode_trade("{" + body + "}").value.has_value());
}
