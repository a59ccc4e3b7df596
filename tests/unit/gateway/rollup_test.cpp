#include "gateway/src/rollup.hpp"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <map>

#include "gateway/src/store.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::gateway;
using namespace cryptoflow::test;

namespace {

constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kDay = 24 * kHour;

// freqtrade's recorded Binance klines [open time, o, h, l, c, v] as candles of `interval`.
std::vector<Candle> klines(const std::string& file, const std::string& interval) {
  rapidjson::Document d;
  const auto text = read_file(fixture(file));
  d.Parse<rapidjson::kParseNumbersAsStringsFlag>(text.c_str());
  REQUIRE(d.IsArray());
  std::vector<Candle> out;
  for (const auto& k : d.GetArray()) {
    Candle c;
    c.source = "binance";
    c.symbol = "XRPETH";
    c.interval = interval;
    c.start = std::stoll(k[0].GetString());
    c.end = c.start + interval_ms(interval);
    c.open = *Decimal::parse(k[1].GetString());
    c.high = *Decimal::parse(k[2].GetString());
    c.low = *Decimal::parse(k[3].GetString());
    c.close = *Decimal::parse(k[4].GetString());
    c.volume = *Decimal::parse(k[5].GetString());
    c.vwap = Decimal::from_units(0, 8);
    c.trades = c.volume.is_zero() ? 0 : 1;  // freqtrade keeps no trade count: volume tells
    c.final = true;
    out.push_back(c);
  }
  return out;
}

}  // namespace

TEST_CASE("rollup: windows open where Binance opens them") {
  // 2024-01-03 12:00 UTC, a Wednesday.
  const std::int64_t wed = 1'704'283'200'000;
  CHECK(window_open(wed, "1w", 0) == 1'704'067'200'000);  // Monday 2024-01-01 00:00
  CHECK(window_next(1'704'067'200'000, "1w", 0) == 1'704'672'000'000);
  CHECK(window_open(1'709'200'800'000, "1M", 0) == 1'706'745'600'000);  // 2024-02-29 10:00 -> 02-01
  CHECK(window_next(1'706'745'600'000, "1M", 0) == 1'709'251'200'000);  // -> 03-01 (a leap February)
  CHECK(window_next(1'733'011'200'000, "1M", 0) == 1'735'689'600'000);  // 2024-12-01 -> 2025-01-01
  CHECK(window_open(wed, "1d", 0) == 1'704'240'000'000);
  CHECK(window_open(wed, "3d", 0) % (3 * kDay) == 0);
  CHECK(window_open(wed, "4h", 0) == wed);
  // timeZone: the day of UTC+8 opens at 16:00 UTC the day before; of UTC-5 at 05:00.
  CHECK(window_open(1'704'139'200'000, "1d", 8 * kHour) == 1'704'124'800'000);  // 01-01 20:00Z
  CHECK(window_open(wed, "1d", -5 * kHour) == 1'704'258'000'000);               // 01-03 05:00Z
  CHECK(window_open(wed, "1w", 8 * kHour) == 1'704'067'200'000 - 8 * kHour);
  CHECK(window_open(1'706'745'600'000, "1M", 8 * kHour) == 1'706'745'600'000 - 8 * kHour);
  // Before the epoch's first Monday, and before the epoch.
  CHECK(window_open(0, "1w", 0) == -3 * kDay);
}

TEST_CASE("rollup: Binance's timeZone parameter") {
  CHECK(parse_time_zone("") == 0);
  CHECK(parse_time_zone("0") == 0);
  CHECK(parse_time_zone("8") == 8 * kHour);
  CHECK(parse_time_zone("+08:00") == 8 * kHour);
  CHECK(parse_time_zone("-1:00") == -kHour);
  CHECK(parse_time_zone("05:45") == 5 * kHour + 45 * 60'000);
  CHECK(parse_time_zone("+14:00") == 14 * kHour);
  CHECK(parse_time_zone("-12") == -12 * kHour);
  for (const char* bad : {"15", "-13", "+14:01", "x", "1:60", "+", "1:", "123", "08:00:00"})
    CHECK_FALSE(parse_time_zone(bad).has_value());
}

TEST_CASE("rollup: the base interval tiles the target exactly") {
  const std::vector<std::string> held{"1m", "5m", "15m", "1h"};
  CHECK(base_interval(held, "1d", 0) == "1h");
  CHECK(base_interval(held, "1w", 0) == "1h");
  CHECK(base_interval(held, "1M", 0) == "1h");
  CHECK(base_interval(held, "30m", 0) == "15m");
  CHECK(base_interval(held, "3m", 0) == "1m");
  CHECK(base_interval(held, "1d", 5 * kHour + 45 * 60'000) == "15m");  // Nepal's day starts at :45
  CHECK(base_interval({"5m"}, "3m", 0).empty());
  CHECK(serves_directly(held, "1h", 8 * kHour));
  CHECK_FALSE(serves_directly(held, "4h", 0));  // not held
  CHECK_FALSE(serves_directly({"1d"}, "1d", 8 * kHour));
  CHECK_FALSE(serves_directly({"1w"}, "1w", 0));  // the processor aligns a week to the epoch (a Thursday)
}

TEST_CASE("rollup: Binance's own 5m klines are the roll-up of its 1m klines, digit for digit") {
  const auto ones = klines("freqtrade/XRP_ETH-1m.json", "1m");
  const auto fives = klines("freqtrade/XRP_ETH-5m.json", "5m");
  REQUIRE(ones.size() == 3560);
  const auto rolled = roll_up(ones, "5m", 0);
  std::map<std::int64_t, Candle> by_start;
  for (const auto& c : rolled) by_start[c.start] = c;
  std::size_t compared = 0;
  for (const auto& f : fives) {
    const auto it = by_start.find(f.start);
    if (it == by_start.end()) continue;
    const auto& r = it->second;
    INFO("window " << f.start);
    CHECK(r.open.to_string() == f.open.to_string());
    CHECK(r.high == f.high);
    CHECK(r.low == f.low);
    CHECK(r.close.to_string() == f.close.to_string());
    CHECK(r.volume == f.volume);
    CHECK(r.final);
    ++compared;
  }
  CHECK(compared == 712);  // 3,560 minutes: 712 whole 5-minute windows
}

TEST_CASE("rollup: a window is made only from its own complete run of base candles") {
  auto ones = klines("freqtrade/XRP_ETH-1m.json", "1m");
  ones.resize(120);  // 2019-10-11 00:00 .. 02:00
  // Drop the first minute and one in the second hour: neither hour may be made.
  auto gapped = std::vector<Candle>(ones.begin() + 1, ones.end());
  gapped.erase(gapped.begin() + 70);
  CHECK(roll_up(gapped, "1h", 0).empty());
  // Unless the first minute held is the series' first ever (a symbol's first week opens Monday
  // with what traded since its listing): the first hour is made from it on.
  const auto from_origin = roll_up(std::vector<Candle>(ones.begin() + 1, ones.begin() + 60), "1h", 0, ones[1].start);
  REQUIRE(from_origin.size() == 1);
  CHECK(from_origin[0].start == ones[0].start);
  CHECK(from_origin[0].final);
  // The whole of the first hour and half the second: one final hour, one open (not final).
  ones.resize(90);
  ones.back().final = false;
  const auto hours = roll_up(ones, "1h", 0);
  REQUIRE(hours.size() == 2);
  CHECK(hours[0].final);
  CHECK(hours[0].end == hours[0].start + kHour);
  CHECK_FALSE(hours[1].final);
  CHECK(hours[1].end == hours[1].start + 30 * 60'000);
  // Sums are exact: the hour's volume is its minutes'.
  Decimal v;
  for (int i = 0; i < 60; ++i) v = *v.checked_add(ones[static_cast<std::size_t>(i)].volume);
  CHECK(hours[0].volume == v);
}
