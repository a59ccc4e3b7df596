#include "cryptoflow/messages/schema.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "cryptoflow/messages/messages.hpp"

using namespace cryptoflow;

TEST_CASE("The compiled-in schemas are the files in proto/") {
  const std::pair<MessageKind, const char*> files[] = {{MessageKind::trade, "trade.v1.json"},
                                                       {MessageKind::ticker, "ticker.v1.json"},
                                                       {MessageKind::candle, "candle.v1.json"},
                                                       {MessageKind::indicator, "indicator.v1.json"},
                                                       {MessageKind::book_snapshot, "book_snapshot.v1.json"},
                                                       {MessageKind::book_update, "book_update.v1.json"},
                                                       {MessageKind::book_resync, "book_resync.v1.json"}};
  for (const auto& [kind, file] : files) {
    std::ifstream in(std::string(CRYPTOFLOW_SOURCE_DIR) + "/proto/" + file);
    std::stringstream ss;
    ss << in.rdbuf();
    CHECK(ss.str() == schema_text(kind));
  }
}

TEST_CASE("Encoded messages validate against their schema") {
  Trade t{"binance", "BTCUSDT",    1,           *Decimal::parse("67000.10"), *Decimal::parse("0.001"), false, 1, 1,
          2,         std::nullopt, std::nullopt};
  CHECK(SchemaValidator(MessageKind::trade).validate(to_json(t)).empty());
  t.first_trade_id = 5;
  t.last_trade_id = 6;
  CHECK(SchemaValidator(MessageKind::trade).validate(to_json(t)).empty());

  Candle c;
  c.source = "binance";
  c.symbol = "BTCUSDT";
  c.interval = "15m";
  c.open = c.high = c.low = c.close = c.vwap = *Decimal::parse("1.5");
  c.volume = c.quote_volume = c.taker_buy_volume = *Decimal::parse("0");
  CHECK(SchemaValidator(MessageKind::candle).validate(to_json(c)).empty());

  Ticker k;
  k.source = "coingecko";
  k.coin = "bitcoin";
  k.vs_currency = "usd";
  k.price = *Decimal::parse("3.2014e-8");
  CHECK(SchemaValidator(MessageKind::ticker).validate(to_json(k)).empty());

  Indicator i{"BTCUSDT", "sma", "30s", 1, *Decimal::parse("2.5"), 3};
  CHECK(SchemaValidator(MessageKind::indicator).validate(to_json(i)).empty());
}

TEST_CASE("Schemas reject broken messages") {
  SchemaValidator v(MessageKind::trade);
  const std::string ok = R"({"source":"binance","symbol":"BTCUSDT","trade_id":1,"price":"1.5","quantity":"2",)"
                         R"("buyer_is_maker":true,"event_time":1,"trade_time":1,"received_time":1})";
  CHECK(v.validate(ok).empty());
  auto broken = [&](const std::string& from, const std::string& to) {
    auto j = ok;
    j.replace(j.find(from), from.size(), to);
    return v.validate(j);
  };
  CHECK(broken("\"1.5\"", "1.5") == "#/price: keyword 'type' failed");
  CHECK(broken("\"1.5\"", "\"1.5e3\"") == "#/price: keyword 'pattern' failed");
  CHECK(broken("\"BTCUSDT\"", "\"btcusdt\"") == "#/symbol: keyword 'pattern' failed");
  CHECK(broken("\"trade_id\":1,", "") == "#: keyword 'required' failed");
  CHECK(v.validate("{").find("malformed JSON") == 0);
  SchemaValidator cv(MessageKind::candle);
  CHECK_FALSE(cv.validate(R"({"symbol":"X"})").empty());
}
