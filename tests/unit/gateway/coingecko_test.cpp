// CoinGecko's history endpoints (market_chart, market_chart/range, ohlc), coins/list,
// simple/supported_vs_currencies and CoinGecko's errors, against a store fed three days of
// one-minute tickers built on the recorded /coins/markets answer. Expected figures are computed
// here from the raw points, independently of the gateway's buckets.
#include <malloc.h>
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <map>

#include "coingecko-producer/src/markets.hpp"
#include "gateway/src/api.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::gateway;

namespace {

constexpr std::int64_t kMinute = 60'000, kHour = 60 * kMinute, kDay = 24 * kHour;
constexpr std::int64_t kNow = 1'673'222'400'000;  // 2023-01-09T00:00:00Z

struct Point {
  std::int64_t time;
  double price, cap;
};

// The recorded tickers (usd, 2023-01-08T16:49Z or so), bitcoin's as three days of tickers, one
// a minute up to kNow (its price the recorded one plus a wave, to the cent).
std::vector<Point> feed(MarketStore& s, std::vector<Ticker>& recorded) {
  recorded =
      coingecko::parse_markets(test::read_file(test::fixture("coingecko/GetMarketsAsync.txt")), "usd", 1).tickers;
  REQUIRE(recorded.size() == 100);
  auto btc = recorded.front();
  REQUIRE(btc.coin == "bitcoin");
  for (std::size_t i = 1; i < recorded.size(); ++i) s.apply(recorded[i]);
  std::vector<Point> points;
  for (std::int64_t t = kNow - 3 * kDay + 17'000; t <= kNow - 20'000; t += kMinute) {
    const auto cents =
        1'695'152 + static_cast<std::int64_t>(std::lround(40'000 * std::sin(static_cast<double>(t) / 7e6)));
    btc.price = *Decimal::parse(std::to_string(cents / 100) + "." + std::to_string(100 + cents % 100).substr(1));
    btc.market_cap = *Decimal::parse(std::to_string(326'407'877'229 + (t - kNow) / 1000));
    btc.last_updated = t;
    s.apply(btc);
    points.push_back({t, btc.price->to_double(), btc.market_cap->to_double()});
  }
  return points;
}

Response get(const MarketStore& store, const std::string& target) {
  const auto r = parse_target("GET", "/coingecko/api/v3" + target);
  REQUIRE(r.has_value());
  auto out = handle_api(*r, {store, kNow});
  REQUIRE(out.has_value());
  return *out;
}

rapidjson::Document json(const Response& r) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseFullPrecisionFlag>(r.body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

// How many points a chart of [from, to] at `step` has: the buckets whose last point is in it.
std::size_t chart_points(const std::vector<Point>& points, std::int64_t step, std::int64_t from, std::int64_t to) {
  std::map<std::int64_t, std::int64_t> last;
  for (const auto& p : points) last[p.time - p.time % step] = p.time;
  return static_cast<std::size_t>(
      std::count_if(last.begin(), last.end(), [&](const auto& b) { return b.second >= from && b.second <= to; }));
}

// [time, open, high, low, close] per `length` window of the raw points from `from` on, stamped
// with the window's end.
std::vector<std::array<double, 5>> candles_of(const std::vector<Point>& points, std::int64_t from,
                                              std::int64_t length) {
  std::map<std::int64_t, std::array<double, 5>> by;
  for (const auto& p : points) {
    const auto start = p.time - p.time % length;
    if (start + length <= from) continue;
    auto [it, fresh] =
        by.try_emplace(start, std::array<double, 5>{double(start + length), p.price, p.price, p.price, p.price});
    auto& c = it->second;
    if (!fresh) {
      c[2] = std::max(c[2], p.price);
      c[3] = std::min(c[3], p.price);
      c[4] = p.price;
    }
  }
  std::vector<std::array<double, 5>> out;
  for (const auto& [_, c] : by) out.push_back(c);
  return out;
}

void check_ohlc(const MarketStore& s, const std::string& days, const std::vector<Point>& points, std::int64_t length) {
  const auto got = json(get(s, "/coins/bitcoin/ohlc?vs_currency=usd&days=" + days));
  const auto span = days == "max" ? 36'500 * kDay : std::stoll(days) * kDay;
  const auto want = candles_of(points, kNow - span, length);
  INFO("days=" << days);
  REQUIRE(got.Size() == want.size());
  for (rapidjson::SizeType i = 0; i < got.Size(); ++i)
    for (rapidjson::SizeType j = 0; j < 5; ++j) {
      INFO("candle " << i << " column " << j);
      CHECK(got[i][j].GetDouble() == want[i][j]);
    }
}

}  // namespace

TEST_CASE("coingecko: market_chart has CoinGecko's granularity by days - the last point is the latest price") {
  MarketStore s;
  std::vector<Ticker> recorded;
  const auto points = feed(s, recorded);
  // days=1: 5-minutely, each the last point of its five minutes.
  const auto day = json(get(s, "/coins/bitcoin/market_chart?vs_currency=usd&days=1"));
  const auto& prices = day["prices"];
  REQUIRE(prices.Size() == chart_points(points, 5 * kMinute, kNow - kDay, kNow));
  CHECK(prices.Size() == 288);
  std::map<std::int64_t, Point> last_of;
  for (const auto& p : points) last_of[p.time - p.time % (5 * kMinute)] = p;
  for (const auto& p : prices.GetArray()) {
    const auto t = p[0].GetInt64();
    CHECK(t >= kNow - kDay);
    REQUIRE(last_of.count(t - t % (5 * kMinute)) == 1);
    CHECK(last_of[t - t % (5 * kMinute)].time == t);
    CHECK(p[1].GetDouble() == last_of[t - t % (5 * kMinute)].price);
  }
  CHECK(prices[prices.Size() - 1][1].GetDouble() == points.back().price);
  CHECK(day["market_caps"][prices.Size() - 1][1].GetDouble() == points.back().cap);
  CHECK(day["total_volumes"].Size() == prices.Size());
  // days=2..90: hourly; days=91 and max: daily; interval=daily asks for daily.
  const auto count = [&](const std::string& query) {
    return json(get(s, "/coins/bitcoin/market_chart?vs_currency=usd&" + query))["prices"].Size();
  };
  CHECK(count("days=2") == chart_points(points, kHour, kNow - 2 * kDay, kNow));
  CHECK(count("days=2") == 48);
  CHECK(count("days=30") == 72);
  CHECK(count("days=91") == chart_points(points, kDay, kNow - 91 * kDay, kNow));
  CHECK(count("days=max") == 3);
  CHECK(count("days=30&interval=daily") == 3);
  // The range: 5-minutely for up to a day, hourly beyond; UNIX seconds.
  const auto range = [&](std::int64_t from, std::int64_t to) {
    return json(get(s, "/coins/bitcoin/market_chart/range?vs_currency=usd&from=" + std::to_string(from / 1000) +
                           "&to=" + std::to_string(to / 1000)))["prices"]
        .Size();
  };
  CHECK(range(kNow - 2 * kDay, kNow - 2 * kDay + 6 * kHour) ==
        chart_points(points, 5 * kMinute, kNow - 2 * kDay, kNow - 2 * kDay + 6 * kHour));
  CHECK(range(kNow - 2 * kDay, kNow - kDay) == chart_points(points, 5 * kMinute, kNow - 2 * kDay, kNow - kDay));
  CHECK(range(kNow - 3 * kDay, kNow) == chart_points(points, kHour, kNow - 3 * kDay, kNow));
  CHECK(range(kNow + kDay, kNow + 2 * kDay) == 0);
  // Another coin's chart: its one recorded point.
  const auto eth = json(get(s, "/coins/ethereum/market_chart?vs_currency=usd&days=max"));
  REQUIRE(eth["prices"].Size() == 1);
  CHECK(eth["prices"][0][1].GetDouble() == 1266.66);
}

TEST_CASE("coingecko: ohlc candles by days equal the raw points' open - high - low - close") {
  MarketStore s;
  std::vector<Ticker> recorded;
  const auto points = feed(s, recorded);
  check_ohlc(s, "1", points, 30 * kMinute);  // 1-2 days: 30 minutes
  check_ohlc(s, "7", points, 4 * kHour);     // 3-30 days: 4 hours
  check_ohlc(s, "30", points, 4 * kHour);
  check_ohlc(s, "90", points, 4 * kDay);  // beyond: 4 days
  check_ohlc(s, "max", points, 4 * kDay);
  CHECK(get(s, "/coins/bitcoin/ohlc?vs_currency=usd&days=3").status == 400);
  CHECK(get(s, "/coins/bitcoin/ohlc?vs_currency=usd").status == 400);
}

TEST_CASE("coingecko: coins/list - supported_vs_currencies - high_24h and low_24h - CoinGecko's errors") {
  MarketStore s;
  std::vector<Ticker> recorded;
  feed(s, recorded);
  auto eur = recorded[1];
  eur.vs_currency = "eur";
  s.apply(eur);
  CHECK(get(s, "/simple/supported_vs_currencies").body == R"(["eur","usd"])");
  const auto list = json(get(s, "/coins/list"));
  REQUIRE(list.Size() == 100);
  CHECK(std::string(list[0]["id"].GetString()) < list[1]["id"].GetString());
  const auto bitcoin = std::find_if(list.Begin(), list.End(), [](const auto& c) { return c["id"] == "bitcoin"; });
  REQUIRE(bitcoin != list.End());
  CHECK(std::string((*bitcoin)["symbol"].GetString()) == "btc");
  CHECK(std::string((*bitcoin)["name"].GetString()) == "Bitcoin");
  CHECK_FALSE(bitcoin->HasMember("platforms"));
  CHECK(json(get(s, "/coins/list?include_platform=true"))[0]["platforms"].IsObject());

  const auto markets = json(get(s, "/coins/markets?vs_currency=usd&ids=bitcoin"));
  REQUIRE(markets.Size() == 1);
  CHECK(markets[0]["high_24h"].GetDouble() == 16994.2);  // as recorded
  CHECK(markets[0]["low_24h"].GetDouble() == 16923.76);

  // A currency no ticker is in (CoinGecko serves gbp; the producer did not collect it).
  for (const auto* target :
       {"/coins/markets?vs_currency=gbp", "/simple/price?ids=bitcoin&vs_currencies=gbp",
        "/coins/bitcoin/market_chart?vs_currency=gbp&days=1", "/coins/bitcoin/ohlc?vs_currency=gbp&days=1"}) {
    INFO(target);
    const auto r = get(s, target);
    CHECK(r.status == 400);
    CHECK(r.body == R"({"error":"invalid vs_currency"})");
  }
  CHECK(json(get(s, "/simple/price?ids=bitcoin&vs_currencies=usd,gbp"))["bitcoin"].MemberCount() == 1);
  // A coin not held.
  for (const auto* target :
       {"/coins/nocoin/market_chart?vs_currency=usd&days=1",
        "/coins/nocoin/market_chart/range?vs_currency=usd&from=1&to=2", "/coins/nocoin/ohlc?vs_currency=usd&days=1"}) {
    INFO(target);
    const auto r = get(s, target);
    CHECK(r.status == 404);
    CHECK(r.body == R"({"error":"coin not found"})");
  }
  CHECK(get(s, "/coins/bitcoin/market_chart?vs_currency=usd").status == 400);
  CHECK(get(s, "/coins/bitcoin/market_chart?vs_currency=usd&days=-1").status == 400);
  CHECK(get(s, "/coins/bitcoin/market_chart?days=1").status == 400);
  CHECK(get(s, "/coins/bitcoin/market_chart/range?vs_currency=usd&from=x&to=1").status == 400);
  CHECK(get(s, "/coins/bitcoin/tickers").status == 404);
}

TEST_CASE("coingecko: a year of history stays within its buckets - bytes per bucket, measured") {
  TickerHistory h;
  Ticker t;
  t.price = *Decimal::parse("1.5");
  for (std::int64_t time = 0; time <= 400 * kDay; time += 5 * kMinute) {
    t.last_updated = time;
    h.add(t);
  }
  CHECK(h.size() == TickerHistory::kMaxBuckets);  // 2 days 5-minutely, 90 days hourly, 365 days daily
  CHECK(h.buckets(Granularity::five_minutes, 0, 400 * kDay).size() == 577);
  CHECK(h.buckets(Granularity::daily, 0, 400 * kDay).front().start == 400 * kDay - 365 * kDay);

  const auto heap = [] { return mallinfo2().uordblks; };
  const auto before = heap();
  {
    MarketStore s({.max_ticker_histories = 100});
    for (int coin = 0; coin < 100; ++coin) {
      t.coin = "coin" + std::to_string(coin);
      t.vs_currency = "usd";
      for (std::int64_t time = 0; time < 100 * kDay; time += 15 * kMinute) {
        t.last_updated = time;
        s.apply(t);
      }
    }
    t.coin = "one-too-many";
    s.apply(t);
    CHECK(s.histories_refused() == 1);
    CHECK(s.ticker("one-too-many", "usd").has_value());  // its latest is kept
    double buckets = 0;
    for (int coin = 0; coin < 100; ++coin)
      for (const auto g : {Granularity::five_minutes, Granularity::hourly, Granularity::daily})
        buckets += static_cast<double>(s.ticker_history("coin" + std::to_string(coin), "usd", g, 0, 100 * kDay).size());
    CHECK(buckets > 100 * 2400);
    const auto per_bucket = static_cast<double>(heap() - before) / buckets;
    std::printf("gateway ticker history: %.1f bytes per bucket (glibc heap)\n", per_bucket);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    CHECK(per_bucket <= static_cast<double>(kBytesPerTickerBucket));
#endif
  }
}
