// Older candles from InfluxDB: the InfluxQL asked, InfluxDB's answers read back (floats printed
// as Go prints them, errors), and how they are put before the held candles.
#include "gateway/src/history.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>

#include "gateway/src/api.hpp"

using namespace cryptoflow;
using namespace cryptoflow::gateway;

namespace {

Candle minute(std::int64_t start, const char* close) {
  Candle c;
  c.source = "binance";
  c.symbol = "XRPETH";
  c.interval = "1m";
  c.start = start;
  c.end = start + 60'000;
  c.open = c.high = c.low = c.close = c.vwap = *Decimal::parse(close);
  c.volume = c.quote_volume = c.taker_buy_volume = *Decimal::parse("1");
  c.trades = 1;
  c.final = true;
  return c;
}

// InfluxDB's candle measurement for minutes [0, n) as a fake: it answers like MarketStore does.
struct FakeHistory final : CandleHistory {
  MarketStore all{StoreLimits{100'000, 10, 10}};
  std::vector<CandleQuery> asked;
  bool down = false;
  explicit FakeHistory(std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) all.apply(minute(i * 60'000, "0.5"));
  }
  std::vector<Candle> candles(const CandleQuery& q) override {
    asked.push_back(q);
    if (down) throw std::runtime_error("InfluxDB did not answer: Connection refused");
    return all.candles(q);
  }
};

std::vector<std::int64_t> minutes(const std::vector<Candle>& cs) {
  std::vector<std::int64_t> out;
  for (const auto& c : cs) out.push_back(c.start / 60'000);
  return out;
}

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {  // [from, to)
  std::vector<std::int64_t> out;
  for (auto i = from; i < to; ++i) out.push_back(i);
  return out;
}

}  // namespace

TEST_CASE("history: the InfluxQL for a range - string literals escaped - newest first without a start") {
  CHECK(
      influxql_for({"XRPETH", "1m", 60'000, 120'000, 500}) ==
      R"(SELECT "open","high","low","close","volume","quote_volume","taker_buy_volume","vwap","trades","final",)"
      R"("taker_buy_quote_volume" FROM "candle" WHERE "symbol" = 'XRPETH' AND "interval" = '1m' AND time >= 60000ms AND time <= 120000ms)"
      " ORDER BY time ASC LIMIT 500");
  const auto q = influxql_for({"X' OR '1'='1", "1m", std::nullopt, std::nullopt, 3});
  CHECK(q.find(R"("symbol" = 'X\' OR \'1\'=\'1')") != std::string::npos);
  CHECK(q.find("ORDER BY time DESC LIMIT 3") != std::string::npos);
}

TEST_CASE("history: InfluxDB's answer becomes candles - Go's exponent form read back exactly - errors thrown") {
  const std::string body =
      R"({"results":[{"statement_id":0,"series":[{"name":"candle","columns":["time","open","high","low","close",)"
      R"("volume","quote_volume","taker_buy_volume","vwap","trades","final"],"values":[)"
      R"([1570752060000,0.00152787,0.0015279,1e-07,1.5e-07,12345.67,18.862,0,0.00152,42,true],)"
      R"([1570752000000,2,3,1,2.5,1e+21,3,1,2,7,false]]}]}]})";
  const auto cs = candles_from_influx(body, {"XRPETH", "1m", std::nullopt, std::nullopt, 10});
  REQUIRE(cs.size() == 2);
  CHECK(cs[0].start == 1570752000000);  // put in order
  CHECK(cs[0].volume.to_string() == "1000000000000000000000");
  CHECK_FALSE(cs[0].final);
  const auto& c = cs[1];
  CHECK(c.symbol == "XRPETH");
  CHECK(c.interval == "1m");
  CHECK(c.end == 1570752120000);
  CHECK(c.open.to_string() == "0.00152787");
  CHECK(c.high.to_string() == "0.0015279");
  CHECK(c.low.to_string() == "0.0000001");
  CHECK(c.close.to_string() == "0.00000015");
  CHECK(c.taker_buy_volume.to_string() == "0");
  CHECK(c.trades == 42);
  CHECK(c.final);

  const CandleQuery q{"XRPETH", "1m", std::nullopt, std::nullopt, 10};
  CHECK(candles_from_influx(R"({"results":[{"statement_id":0}]})", q).empty());  // nothing in the range
  CHECK_THROWS_WITH(candles_from_influx(R"({"results":[{"statement_id":0,"error":"database not found: crypto"}]})", q),
                    Catch::Contains("database not found"));
  CHECK_THROWS_WITH(candles_from_influx(R"({"error":"authorization failed"})", q), Catch::Contains("authorization"));
  CHECK_THROWS(candles_from_influx("<html>", q));
  CHECK_THROWS_WITH(candles_from_influx(R"({"results":[{"series":[{"columns":["time","open"],"values":[]}]}]})", q),
                    Catch::Contains("no field"));
}

TEST_CASE("history: older candles come before the held ones - only where the store does not reach back") {
  FakeHistory influx(100);  // minutes 0..99 in InfluxDB
  MarketStore store(StoreLimits{30, 10, 10});
  for (std::int64_t i = 0; i < 100; ++i) store.apply(minute(i * 60'000, "0.5"));  // keeps 70..99
  Response r;
  ApiContext without{store, 0, true, nullptr};
  ApiContext with{store, 0, true, &influx};

  // From a start the store holds: the store alone, no history asked, nothing to wait for.
  CHECK_FALSE(reaches_history({"XRPETH", "1m", 80 * 60'000, std::nullopt, 10}, without));
  auto got = query_candles({"XRPETH", "1m", 80 * 60'000, std::nullopt, 10}, without, r);
  CHECK(minutes(got) == range(80, 90));
  // From an older start: the call is placed where the history may be waited for, then merged.
  CHECK(reaches_history({"XRPETH", "1m", 50 * 60'000, std::nullopt, 40}, without));
  got = query_candles({"XRPETH", "1m", 50 * 60'000, std::nullopt, 40}, with, r);
  CHECK(minutes(got) == range(50, 90));
  REQUIRE(influx.asked.size() == 1);
  CHECK(influx.asked[0].end == 70 * 60'000 - 1);  // up to the oldest held, not beyond
  CHECK(r.headers.empty());

  // The last `limit` up to now: the store has 30, the 20 before come from the history.
  CHECK(reaches_history({"XRPETH", "1m", std::nullopt, std::nullopt, 50}, without));
  got = query_candles({"XRPETH", "1m", std::nullopt, std::nullopt, 50}, with, r);
  CHECK(minutes(got) == range(50, 100));
  CHECK(influx.asked.back().limit == 20);
  CHECK_FALSE(reaches_history({"XRPETH", "1m", std::nullopt, std::nullopt, 30}, without));  // the store has enough
  got = query_candles({"XRPETH", "1m", std::nullopt, std::nullopt, 30}, without, r);
  CHECK(minutes(got) == range(70, 100));
  // An end before everything held: all from the history.
  got = query_candles({"XRPETH", "1m", std::nullopt, 9 * 60'000, 5}, with, r);
  CHECK(minutes(got) == range(5, 10));
  CHECK(r.headers.empty());

  // Without INFLUX_URL nothing is asked and nothing waits.
  CHECK_FALSE(reaches_history({"XRPETH", "1m", 0, std::nullopt, 10}, {store, 0, false, nullptr}));
  got = query_candles({"XRPETH", "1m", 0, std::nullopt, 10}, {store, 0, false, nullptr}, r);
  CHECK(minutes(got) == range(70, 80));
  CHECK(r.headers.empty());

  // Answered where no history can be waited for (the store moved on after the call was placed):
  // the held candles and the Warning, never a wait on the I/O thread.
  const auto asked = influx.asked.size();
  got = query_candles({"XRPETH", "1m", 0, std::nullopt, 10}, without, r);
  CHECK(minutes(got) == range(70, 80));
  CHECK(influx.asked.size() == asked);
  REQUIRE(r.headers.size() == 1);
  CHECK(r.headers[0].first == "Warning");
  r.headers.clear();

  // InfluxDB down: the held candles, and a Warning saying what is missing - not why (host names
  // and InfluxDB's text are for the operator's log).
  influx.down = true;
  got = query_candles({"XRPETH", "1m", 0, std::nullopt, 10}, with, r);
  CHECK(minutes(got) == range(70, 80));
  REQUIRE(r.headers.size() == 1);
  CHECK(r.headers[0].first == "Warning");
  CHECK(r.headers[0].second == "199 cryptoflow-gateway \"older candles unavailable\"");
}
