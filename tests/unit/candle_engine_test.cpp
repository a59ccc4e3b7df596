#include "candle_engine.hpp"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "cryptoflow/config.hpp"
#include "frame_decoder.hpp"
#include "replay.hpp"

using namespace cryptoflow;
using namespace cryptoflow::processor;

namespace {

Decimal D(const char* s) {
  return *Decimal::parse(s);
}

Trade trade(const char* symbol, std::int64_t id, std::int64_t t, const char* price, const char* qty,
            bool buyer_is_maker = false) {
  Trade x;
  x.source = "binance";
  x.symbol = symbol;
  x.trade_id = id;
  x.trade_time = x.event_time = t;
  x.price = D(price);
  x.quantity = D(qty);
  x.buyer_is_maker = buyer_is_maker;
  return x;
}

EngineOptions opts(std::int64_t lateness = 0, std::int64_t idle = 10'000) {
  return {{{"1m", 60'000}}, lateness, idle, 12};
}

}  // namespace

TEST_CASE("A window aggregates OHLCV - quote and taker-buy volume - VWAP and trade count") {
  CandleEngine e(opts());
  e.add(0, 0, trade("BTCUSDT", 1, 1'000, "10.0", "1.0", false), 0);
  e.add(0, 1, trade("BTCUSDT", 2, 2'000, "12.5", "2.0", true), 0);
  e.add(0, 2, trade("BTCUSDT", 3, 3'000, "9.5", "1.0", false), 0);
  e.add(0, 3, trade("BTCUSDT", 4, 59'999, "11.0", "0.5", true), 0);
  std::vector<Candle> out;
  e.close_windows(0, out);
  CHECK(out.empty());  // watermark 59'999 < end 60'000
  e.add(0, 4, trade("BTCUSDT", 5, 60'000, "11.0", "1", true), 0);
  e.close_windows(0, out);
  REQUIRE(out.size() == 1);
  const auto& c = out[0];
  CHECK(c.symbol == "BTCUSDT");
  CHECK(c.interval == "1m");
  CHECK(c.start == 0);
  CHECK(c.end == 60'000);
  CHECK(c.open == D("10"));
  CHECK(c.high == D("12.5"));
  CHECK(c.low == D("9.5"));
  CHECK(c.close == D("11"));
  CHECK(c.volume == D("4.5"));
  CHECK(c.quote_volume == D("50"));  // 10 + 25 + 9.5 + 5.5
  CHECK(c.taker_buy_volume == D("2"));
  CHECK(c.vwap.to_string() == "11.111111111111");  // 50 / 4.5 rounded to 12 digits
  CHECK(c.trades == 4);
  CHECK(c.final);
}

TEST_CASE("Out-of-order trades inside the lateness still give the right open and close") {
  CandleEngine e(opts(30'000));
  e.add(0, 0, trade("X", 2, 20'000, "2", "1"), 0);
  e.add(0, 1, trade("X", 3, 40'000, "3", "1"), 0);
  e.add(0, 2, trade("X", 1, 10'000, "1", "1"), 0);  // earlier trade arrives last
  e.add(0, 3, trade("X", 4, 40'000, "4", "1"), 0);  // same time, larger id: closes
  e.add(0, 4, trade("X", 9, 95'000, "9", "1"), 0);
  std::vector<Candle> out;
  e.close_windows(0, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].open == D("1"));
  CHECK(out[0].close == D("4"));
  CHECK(out[0].trades == 4);
}

TEST_CASE("A trade behind the watermark is late and does not change a final candle") {
  CandleEngine e(opts(10'000));
  e.add(0, 0, trade("X", 1, 5'000, "1", "1"), 0);
  e.add(0, 1, trade("X", 2, 75'000, "2", "1"), 0);  // watermark 65'000 closes [0, 60'000)
  std::vector<Candle> out;
  e.close_windows(0, out);
  REQUIRE(out.size() == 1);
  CHECK(e.add(0, 2, trade("X", 3, 59'000, "7", "1"), 0).late);
  CHECK_FALSE(e.add(0, 3, trade("X", 4, 61'000, "7", "1"), 0).late);  // its window is still open
  out.clear();
  e.close_windows(0, out);
  CHECK(out.empty());  // nothing re-emitted for the closed window
}

TEST_CASE("Window boundaries: end is exclusive - start inclusive") {
  CandleEngine e(opts());
  e.add(0, 0, trade("X", 1, 59'999, "1", "1"), 0);
  e.add(0, 1, trade("X", 2, 60'000, "2", "1"), 0);
  e.add(0, 2, trade("X", 3, 120'000, "3", "1"), 0);
  std::vector<Candle> out;
  e.close_windows(0, out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].start == 0);
  CHECK(out[0].close == D("1"));
  CHECK(out[1].start == 60'000);
  CHECK(out[1].open == D("2"));
}

TEST_CASE("The slowest active partition holds the watermark - an idle one stops holding it") {
  CandleEngine e(opts(0, 10'000));
  e.add(0, 0, trade("A", 1, 10'000, "1", "1"), 0);
  e.add(1, 0, trade("B", 1, 200'000, "1", "1"), 0);
  std::vector<Candle> out;
  e.close_windows(5'000, out);
  CHECK(e.watermark() == 10'000);  // partition 0 holds it back
  CHECK(out.empty());
  e.add(1, 1, trade("B", 2, 210'000, "1", "1"), 9'000);
  e.close_windows(12'000, out);  // partition 0 idle since 0, partition 1 active
  CHECK(e.watermark() == 210'000);
  REQUIRE(out.size() == 1);  // A's [0, 60s) closes; B's [180s, 240s) is still open
  CHECK(out[0].symbol == "A");
  CHECK(e.open_windows() == 1);
}

TEST_CASE("Live updates report changed open windows once per call") {
  CandleEngine e(opts(60'000));
  e.add(0, 0, trade("X", 1, 1'000, "1", "1"), 0);
  std::vector<Candle> out;
  e.take_updates(out);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].final);
  out.clear();
  e.take_updates(out);
  CHECK(out.empty());
  e.add(0, 1, trade("X", 2, 2'000, "2", "1"), 0);
  e.take_updates(out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].close == D("2"));
}

TEST_CASE("Resume offsets: the first input an open window still needs") {
  CandleEngine e(EngineOptions{{{"1m", 60'000}, {"1h", 3'600'000}}, 0, 10'000, 12});
  e.add(3, 100, trade("X", 1, 1'000, "1", "1"), 0);
  e.add(3, 101, trade("X", 2, 61'000, "1", "1"), 0);
  std::vector<Candle> out;
  e.close_windows(0, out);
  CHECK(out.size() == 1);             // the first minute
  CHECK(*e.resume_offset(3) == 100);  // the hour still needs offset 100
  CHECK_FALSE(e.resume_offset(4).has_value());
  e.drop_partition(3);
  CHECK(e.open_windows() == 0);
}

TEST_CASE("Interval configuration") {
  const auto iv = parse_intervals({"1m", "5m", "15m", "1h", "1d"});
  CHECK(iv.size() == 5);
  CHECK(iv[3].ms == 3'600'000);
  CHECK_THROWS_AS(parse_intervals({"7m"}), ConfigError);  // does not divide a day
  CHECK_THROWS_AS(parse_intervals({"1m", "60s"}), ConfigError);
  CHECK_THROWS_AS(parse_intervals({"500ms"}), ConfigError);
  CHECK_THROWS_AS(parse_intervals({}), ConfigError);
}

// --- real data ---------------------------------------------------------------------------

namespace {

std::vector<Trade> load_xrpeth_trades() {
  binance::ReplayFile file(std::string(CRYPTOFLOW_FIXTURES_DIR) + "/freqtrade/XRPETH.aggTrade.jsonl");
  std::vector<Trade> out;
  while (auto line = file.next()) {
    auto d = binance::decode_frame(line->frame, 0);
    REQUIRE(d.kind == binance::FrameKind::trade);
    out.push_back(d.trade);
  }
  return out;
}

struct Expected {
  Decimal open, high, low, close, volume;
};

// freqtrade's candles: [[open_time_ms, o, h, l, c, volume], ...], numbers read as exact text.
std::map<std::int64_t, Expected> load_klines(const std::string& file) {
  std::ifstream in(std::string(CRYPTOFLOW_FIXTURES_DIR) + "/freqtrade/" + file);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto text = ss.str();
  rapidjson::Document d;
  d.Parse<rapidjson::kParseNumbersAsStringsFlag>(text.c_str());
  REQUIRE(d.IsArray());
  std::map<std::int64_t, Expected> out;
  for (const auto& row : d.GetArray()) {
    auto dec = [&](int i) { return *Decimal::parse(row[static_cast<rapidjson::SizeType>(i)].GetString()); };
    out[std::stoll(row[0].GetString())] = {dec(1), dec(2), dec(3), dec(4), dec(5)};
  }
  return out;
}

}  // namespace

TEST_CASE("Real data: 1m and 5m candles from Binance's XRP/ETH aggTrades equal Binance's klines") {
  const auto trades = load_xrpeth_trades();
  REQUIRE(trades.size() == 12477);
  CandleEngine e(EngineOptions{{{"1m", 60'000}, {"5m", 300'000}}, 60'000, 10'000, 12});
  std::vector<Candle> out;
  std::int64_t offset = 0;
  for (const auto& t : trades) {
    e.add(0, offset++, t, 0);
    if (offset % 100 == 0) e.close_windows(0, out);
  }
  // A trade far in the future on another partition; partition 0 is idle by then.
  e.add(1, 0, trade("ZZZ", 1, trades.back().trade_time + 86'400'000, "1", "1"), 1'000'000);
  e.close_windows(1'000'000, out);

  for (const auto& [interval, file, with_trades] :
       {std::tuple{"1m", "XRP_ETH-1m.json", 2469}, std::tuple{"5m", "XRP_ETH-5m.json", 706}}) {
    const auto klines = load_klines(file);
    int compared = 0;
    std::int64_t raw_trades = 0;
    for (const auto& c : out) {
      if (c.symbol != "XRPETH" || c.interval != interval) continue;
      INFO(interval << " candle at " << c.start);
      auto it = klines.find(c.start);
      REQUIRE(it != klines.end());
      CHECK(c.open == it->second.open);
      CHECK(c.high == it->second.high);
      CHECK(c.low == it->second.low);
      CHECK(c.close == it->second.close);
      CHECK(c.volume == it->second.volume);
      CHECK(c.final);
      ++compared;
      raw_trades += c.trades;
    }
    CHECK(compared == with_trades);
    CHECK(raw_trades == 14672);  // sum of l - f + 1 over the aggTrades (SOURCES.md)
    // Every kline with volume was produced: the ones we did not produce are all empty.
    int with_volume = 0;
    for (const auto& [start, k] : klines) with_volume += k.volume.is_zero() ? 0 : 1;
    CHECK(with_volume == with_trades);
  }
}
