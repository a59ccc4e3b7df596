#include "gateway/src/store.hpp"

#include <malloc.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <vector>

#include "gateway/src/feed.hpp"
#include "gateway/src/hub.hpp"

using namespace cryptoflow;
using namespace cryptoflow::gateway;

namespace {

Candle candle(std::int64_t start, const char* close, bool final, std::int64_t trades = 1, const char* interval = "1m") {
  Candle c;
  c.source = "binance";
  c.symbol = "BTCUSDT";
  c.interval = interval;
  c.start = start;
  c.end = start + interval_ms(interval);
  c.open = c.high = c.low = c.close = c.vwap = *Decimal::parse(close);
  c.volume = c.quote_volume = c.taker_buy_volume = *Decimal::parse("1");
  c.trades = trades;
  c.final = final;
  return c;
}

std::vector<std::int64_t> starts(const std::vector<Candle>& cs) {
  std::vector<std::int64_t> out;
  for (const auto& c : cs) out.push_back(c.start);
  return out;
}

}  // namespace

TEST_CASE("store: candles are kept in window order whatever order they arrive in") {
  MarketStore s;
  CHECK(s.apply(candle(180'000, "3", true)) == Applied::added);
  CHECK(s.apply(candle(60'000, "1", true)) == Applied::added);
  CHECK(s.apply(candle(120'000, "2", true)) == Applied::added);
  CHECK(starts(s.candles({"BTCUSDT", "1m", {}, {}, 10})) == std::vector<std::int64_t>{60'000, 120'000, 180'000});
}

TEST_CASE("store: updates of one window replace it - a live update replayed after its final does not") {
  MarketStore s;
  CHECK(s.apply(candle(60'000, "1", false, 1)) == Applied::added);
  CHECK(s.apply(candle(60'000, "1.5", false, 2)) == Applied::updated);
  CHECK(s.apply(candle(60'000, "1.5", false, 2)) == Applied::unchanged);
  CHECK(s.apply(candle(60'000, "2", true, 3)) == Applied::updated);
  CHECK(s.apply(candle(60'000, "1.5", false, 2)) == Applied::stale);
  const auto held = s.candles({"BTCUSDT", "1m", {}, {}, 10});
  REQUIRE(held.size() == 1);
  CHECK(held[0].final);
  CHECK(held[0].close == *Decimal::parse("2"));
  CHECK(s.candle_count() == 1);
}

TEST_CASE("store: a series keeps its newest candles up to the bound - an older one is refused as stale") {
  MarketStore s({.candles_per_series = 3});
  for (int i = 1; i <= 5; ++i) s.apply(candle(std::int64_t{i} * 60'000, "1", true));
  CHECK(starts(s.candles({"BTCUSDT", "1m", {}, {}, 10})) == std::vector<std::int64_t>{180'000, 240'000, 300'000});
  CHECK(s.apply(candle(60'000, "1", true)) == Applied::stale);
  CHECK(s.candle_count() == 3);
  // A window inside the range still goes in (and the oldest goes).
  CHECK(s.apply(candle(270'000, "1", true, 1, "1m")) == Applied::added);
  CHECK(starts(s.candles({"BTCUSDT", "1m", {}, {}, 10})) == std::vector<std::int64_t>{240'000, 270'000, 300'000});
}

TEST_CASE("store: a new series beyond max_series is refused - the others keep working") {
  MarketStore s({.candles_per_series = 10, .max_series = 2});
  CHECK(s.apply(candle(0, "1", true, 1, "1m")) == Applied::added);
  CHECK(s.apply(candle(0, "1", true, 1, "5m")) == Applied::added);
  CHECK(s.apply(candle(0, "1", true, 1, "1h")) == Applied::refused);
  CHECK(s.apply(candle(60'000, "1", true, 1, "1m")) == Applied::added);
  CHECK(s.series_count() == 2);
  CHECK(s.intervals("BTCUSDT") == std::vector<std::string>{"1m", "5m"});
}

TEST_CASE("store: range queries follow Binance - from startTime forward, else the last limit up to endTime") {
  MarketStore s;
  for (int i = 0; i < 10; ++i) s.apply(candle(std::int64_t{i} * 60'000, "1", true));
  CHECK(starts(s.candles({"BTCUSDT", "1m", 120'000, {}, 3})) == std::vector<std::int64_t>{120'000, 180'000, 240'000});
  CHECK(starts(s.candles({"BTCUSDT", "1m", {}, {}, 2})) == std::vector<std::int64_t>{480'000, 540'000});
  CHECK(starts(s.candles({"BTCUSDT", "1m", {}, 300'000, 2})) == std::vector<std::int64_t>{240'000, 300'000});
  CHECK(starts(s.candles({"BTCUSDT", "1m", 60'001, 180'000, 10})) == std::vector<std::int64_t>{120'000, 180'000});
  CHECK(s.candles({"BTCUSDT", "1m", 600'000, {}, 10}).empty());
  CHECK(s.candles({"ETHUSDT", "1m", {}, {}, 10}).empty());
  CHECK(s.candles({"BTCUSDT", "5m", {}, {}, 10}).empty());
}

TEST_CASE("store: the latest price comes from the shortest interval - tickers keep the newest") {
  MarketStore s;
  s.apply(candle(0, "5", false, 1, "5m"));
  s.apply(candle(120'000, "7", false, 1, "1m"));
  CHECK(s.latest("BTCUSDT")->close == *Decimal::parse("7"));
  Ticker t;
  t.coin = "bitcoin";
  t.vs_currency = "usd";
  t.price = Decimal::parse("100");
  t.last_updated = 2'000;
  CHECK(s.apply(t) == Applied::added);
  auto older = t;
  older.price = Decimal::parse("90");
  older.last_updated = 1'000;
  CHECK(s.apply(older) == Applied::stale);
  CHECK(s.ticker("bitcoin", "usd")->price == Decimal::parse("100"));
}

TEST_CASE("hub: Last-Event-ID resumes after the event it names - a foreign or evicted id does not") {
  Hub hub(42, 3);
  for (int i = 0; i < 5; ++i) hub.publish(make_event(candle(std::int64_t{i} * 60'000, "1", false)));
  const auto after3 = hub.after("42-3");
  REQUIRE(after3.has_value());
  REQUIRE(after3->size() == 2);
  CHECK((*after3)[0]->seq == 4);
  CHECK(hub.after("42-5")->empty());
  CHECK_FALSE(hub.after("42-1").has_value());  // events 2 was evicted (3 kept: 3, 4, 5)
  CHECK(hub.after("42-2").has_value());        // the events after 2 are all kept
  CHECK_FALSE(hub.after("41-3").has_value());  // another process's id
  CHECK_FALSE(hub.after("42-9").has_value());
  CHECK_FALSE(hub.after("x").has_value());
}

TEST_CASE("hub: a filter takes the symbols, intervals and kinds it names - empty takes all") {
  const auto e = make_event(candle(0, "1", false));
  CHECK(Filter{}.matches(e));
  CHECK(Filter{{"BTCUSDT"}, {"1m"}, {}}.matches(e));
  CHECK_FALSE(Filter{{"ETHUSDT"}, {}, {}}.matches(e));
  CHECK_FALSE(Filter{{}, {"5m"}, {}}.matches(e));
  CHECK_FALSE(Filter{{}, {}, {EventKind::ticker}}.matches(e));
}

TEST_CASE("feed: history starts a day before now - or before the newest record when nothing is that recent") {
  constexpr std::int64_t day = 86'400'000;
  constexpr std::int64_t now = 1'764'600'000'000;
  std::vector<std::int64_t> stamps;
  int queries = 0;
  const auto any_since = [&](std::int64_t t) {
    ++queries;
    return std::any_of(stamps.begin(), stamps.end(), [&](std::int64_t s) { return s >= t; });
  };
  SECTION("an empty topic") {
    CHECK(history_start(any_since, now, day) == now - day);
  }
  SECTION("live data: one question") {
    stamps = {now - 3 * day, now - 1000};
    CHECK(history_start(any_since, now, day) == now - day);
    CHECK(queries == 1);
  }
  SECTION("a replay of 2025 in 2026: the day before its newest record, whatever its order") {
    stamps = {1'741'046'400'000, 1'741'049'279'999, 1'741'046'460'000};
    CHECK(history_start(any_since, now, day) == 1'741'049'279'999 - day);
    CHECK(queries < 50);
  }
  SECTION("a record stamped 0") {
    stamps = {0};
    CHECK(history_start(any_since, now, day) == -day);
  }
}

TEST_CASE(
    "store: candles come back exactly as they went in - 16-place quote volumes, values past 64 bits, another source") {
  MarketStore s;
  auto a = candle(0, "0.00017000", true);
  a.quote_volume = *Decimal::parse("295.9279441600000000");  // 16 places: packed without its zeros
  a.volume = *Decimal::parse("123456789012345678901234.5");  // past 64 bits: kept whole
  auto b = candle(60'000, "43000.01000000", true);
  b.quote_volume = *Decimal::parse("10000000.1234567890000000");
  auto c = candle(120'000, "0", false);
  c.source = "replay";  // another source than the series'
  auto d = candle(180'000, "-1.5", true);
  d.trades = 5'000'000'000;  // past 32 bits
  for (const auto& x : {a, b, c, d}) REQUIRE(s.apply(x) == Applied::added);
  const auto held = s.candles({"BTCUSDT", "1m", 0, std::nullopt, 10});
  REQUIRE(held.size() == 4);
  CHECK(held[0] == a);
  CHECK(held[0].quote_volume.to_string() == "295.9279441600000000");
  CHECK(held[1] == b);
  CHECK(held[2] == c);
  CHECK(held[3] == d);
  auto a2 = a;
  a2.volume = *Decimal::parse("1.00");
  CHECK(s.apply(a2) == Applied::updated);  // whole -> packed
  CHECK(s.candles({"BTCUSDT", "1m", 0, 0, 1}).front() == a2);
  CHECK(s.apply(a2) == Applied::unchanged);
}

TEST_CASE("store: 400 series x 1,500 candles - bytes per candle and per series, measured") {
  const auto heap = [] { return mallinfo2().uordblks; };
  const auto before = heap();
  {
    MarketStore s({.candles_per_series = 1'500, .max_series = 1'000});
    for (int series = 0; series < 400; ++series)
      for (std::int64_t i = 0; i < 1'500; ++i) {
        auto c = candle(i * 60'000, "0.00017000", true, 57);
        c.symbol = "S" + std::to_string(series) + "USDT";
        c.quote_volume = *Decimal::parse("295.9279441600000000");
        s.apply(c);
      }
    const auto used = static_cast<double>(heap() - before);
    const auto per_candle = used / 600'000;
    std::printf("gateway store: %.1f bytes per candle, %.2f MiB per 1,500-candle series (glibc heap)\n", per_candle,
                used / 400 / 1048576.0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    CHECK(per_candle <= static_cast<double>(kBytesPerCandle));  // the memory bound's arithmetic (was 792)
#endif
  }
}
