#include "influxdb-sink/src/line_protocol.hpp"

#include <catch2/catch.hpp>

#include "influxdb-sink/src/influx_destination.hpp"
#include "influxdb-sink/src/influx_writer.hpp"

using namespace cryptoflow;
using namespace cryptoflow::influx;

TEST_CASE("Candle line: contract's tags and fields - exact digits - ms time = window start") {
  Candle c;
  c.source = "binance";
  c.symbol = "XRPETH";
  c.interval = "1m";
  c.start = 1570752000000;
  c.end = 1570752060000;
  c.open = *Decimal::parse("0.00141342");
  c.high = *Decimal::parse("0.00141557");
  c.low = *Decimal::parse("0.00141266");
  c.close = *Decimal::parse("0.00141418");
  c.volume = *Decimal::parse("1482.00000000");
  c.quote_volume = *Decimal::parse("2.0961");
  c.taker_buy_volume = *Decimal::parse("0");
  c.vwap = *Decimal::parse("0.001414");
  c.trades = 12;
  c.final = true;
  std::string out;
  append_line(out, c);
  CHECK(out ==
        "candle,interval=1m,source=binance,symbol=XRPETH open=0.00141342,high=0.00141557,low=0.00141266,"
        "close=0.00141418,volume=1482.00000000,quote_volume=2.0961,taker_buy_volume=0,taker_buy_quote_volume=0,vwap=0."
        "001414,trades=12i,"
        "final=true 1570752000000\n");
}

TEST_CASE("Ticker and moving-average lines - nulls are omitted - text is escaped") {
  Ticker t;
  t.coin = "bit coin";
  t.symbol = "b,tc";
  t.vs_currency = "usd";
  t.name = "Bit \"Coin\" \\ X";
  t.price = *Decimal::parse("16954.31");
  t.last_updated = 1673196546000;
  std::string out;
  append_line(out, t);
  CHECK(out ==
        "ticker,coin=bit\\ coin,symbol=b\\,tc,vs_currency=usd name=\"Bit \\\"Coin\\\" \\\\ X\",price=16954.31 "
        "1673196546000\n");
  out.clear();
  t.high_24h = *Decimal::parse("16994.2");
  t.low_24h = *Decimal::parse("16923.76");
  append_line(out, t);
  CHECK(out.find(",price=16954.31,high_24h=16994.2,low_24h=16923.76 1673196546000\n") != std::string::npos);
  out.clear();
  append_line(out, Indicator{"ETHUSDT", "sma", "30s", 30000, *Decimal::parse("1.5"), 3});
  CHECK(out == "moving_average,symbol=ETHUSDT,window=30s value=1.5,trades=3i 30000\n");
  out.clear();
  append_tag(out, "a=b c\nd");
  CHECK(out == "a\\=b\\ c d");  // a newline can never split a line
}

TEST_CASE("Records are routed by topic - undecodable ones give an error") {
  TopicNames o;
  std::string lines;
  CHECK(encode_record(o, "crypto.candles", "{}", lines) == "field 'source': missing");
  CHECK(encode_record(o, "crypto.other", "{}", lines) == "no InfluxDB measurement for topic crypto.other");
  CHECK(encode_record(o, "crypto.indicators",
                      R"({"symbol":"X","kind":"sma","window":"30s","end":5,"value":"2","trades":1})", lines)
            .empty());
  CHECK(lines == "moving_average,symbol=X,window=30s value=2,trades=1i 5\n");
}

TEST_CASE("books: one top-of-book point per symbol and second while the book is good - nothing while it is not") {
  const auto d = [](const char* s) { return *Decimal::parse(s); };
  const auto record = [&](BookRecord::Kind kind, std::int64_t previous, std::int64_t id, std::int64_t time_ms,
                          std::vector<PriceLevel> bids, std::vector<PriceLevel> asks) {
    BookRecord r;
    r.kind = kind;
    r.source = "binance";
    r.symbol = "NKNUSDT";
    r.previous_id = previous;
    r.first_id = previous + 1;
    r.id = id;
    r.event_time = r.received_time = time_ms;
    r.depth = 1000;
    r.reason = "gap";
    r.bids = std::move(bids);
    r.asks = std::move(asks);
    return to_json(r);
  };
  using K = BookRecord::Kind;
  TopOfBookSampler s;
  std::string lines;
  // An update before any snapshot: no book yet, no point.
  CHECK(s.encode(record(K::update, 9, 10, 1'633'998'512'068, {}, {}), lines).empty());
  CHECK(lines.empty());
  CHECK(s.encode(record(K::snapshot, 0, 10, 1'633'998'512'320, {{d("0.35210000"), d("672.00000000")}},
                        {{d("0.35300000"), d("10.00000000")}}),
                 lines)
            .empty());
  CHECK(lines ==
        "book,source=binance,symbol=NKNUSDT bid=0.35210000,bid_qty=672.00000000,ask=0.35300000,ask_qty=10.00000000,"
        "spread=0.00090000,update_id=10i 1633998512000\n");
  lines.clear();
  // The same second: no second point; the next second: the book after its first record.
  CHECK(s.encode(record(K::update, 10, 11, 1'633'998'512'900, {{d("0.35250000"), d("1")}}, {}), lines).empty());
  CHECK(lines.empty());
  CHECK(s.encode(record(K::update, 11, 12, 1'633'998'513'001, {}, {{d("0.35300000"), d("0")}}), lines).empty());
  CHECK(lines == "book,source=binance,symbol=NKNUSDT bid=0.35250000,bid_qty=1,update_id=12i 1633998513000\n");
  lines.clear();
  // A resync: nothing until the next snapshot, whatever the updates.
  CHECK(s.encode(record(K::resync, 0, 12, 1'633'998'514'000, {}, {}), lines).empty());
  CHECK(s.encode(record(K::update, 12, 13, 1'633'998'515'000, {{d("9"), d("9")}}, {}), lines).empty());
  CHECK(lines.empty());
  CHECK(s.encode("{", lines) == "not a JSON object");
}
