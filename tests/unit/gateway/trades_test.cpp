#include "gateway/src/trades.hpp"

#include <malloc.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <sstream>

#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::gateway;
using namespace cryptoflow::test;

namespace {

Trade trade(std::int64_t id, const char* price, const char* qty, std::int64_t time, bool maker = false) {
  Trade t;
  t.source = "binance";
  t.symbol = "TRXUSDT";
  t.trade_id = id;
  t.price = *Decimal::parse(price);
  t.quantity = *Decimal::parse(qty);
  t.trade_time = t.event_time = time;
  t.buyer_is_maker = maker;
  return t;
}

// Binance's recorded aggregate trades (data.binance.vision) as crypto.trades records.
std::vector<Trade> recorded_aggregates() {
  std::istringstream in(read_file(fixture("binance-vision/XRPETH-aggTrades-2019-10-11.csv")));
  std::string line;
  std::getline(in, line);  // header
  std::vector<Trade> out;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) f.push_back(cell);
    Trade t;
    t.source = "binance";
    t.symbol = "XRPETH";
    t.trade_id = std::stoll(f[0]);
    t.price = *Decimal::parse(f[1]);
    t.quantity = *Decimal::parse(f[2]);
    t.first_trade_id = std::stoll(f[3]);
    t.last_trade_id = std::stoll(f[4]);
    t.trade_time = t.event_time = std::stoll(f[5]);
    t.buyer_is_maker = f[6] == "true";
    out.push_back(t);
  }
  return out;
}

}  // namespace

TEST_CASE("trades: aggregate trades come back as Binance recorded them") {
  const auto recorded = recorded_aggregates();
  REQUIRE(recorded.size() == 1000);
  TradeStore store;
  for (const auto& t : recorded) CHECK(store.apply(t) == TradeApplied::added);
  for (const auto& t : recorded) CHECK(store.apply(t) == TradeApplied::repeated);  // a replay
  CHECK(store.aggregated("XRPETH"));
  const auto page = store.aggregates({"XRPETH", recorded[100].trade_id, std::nullopt, std::nullopt, 1000});
  REQUIRE(page.size() == 900);
  for (std::size_t i = 0; i < page.size(); ++i) {
    const auto& r = recorded[i + 100];
    INFO("aggregate " << r.trade_id);
    CHECK(page[i].id == r.trade_id);
    CHECK(page[i].first_id == *r.first_trade_id);
    CHECK(page[i].last_id == *r.last_trade_id);
    CHECK(page[i].price.to_string() == r.price.to_string());
    CHECK(page[i].quantity.to_string() == r.quantity.to_string());
    CHECK(page[i].time == r.trade_time);
    CHECK(page[i].buyer_is_maker == r.buyer_is_maker);
  }
  // By time: the first `limit` within [start, end]; neither: the last `limit`.
  const auto t0 = recorded[10].trade_time;
  const auto by_time = store.aggregates({"XRPETH", std::nullopt, t0, t0 + 3'600'000, 5});
  REQUIRE(by_time.size() == 5);
  CHECK(by_time.front().time >= t0);
  CHECK(store.aggregates({"XRPETH", std::nullopt, std::nullopt, std::nullopt, 3}).back().id ==
        recorded.back().trade_id);
  // A symbol fed aggregates has no single trades; a single trade for it is refused.
  auto single = trade(1, "1", "1", 1);
  single.symbol = "XRPETH";
  CHECK(store.apply(single) == TradeApplied::refused);
}

TEST_CASE("trades: single trades are aggregated as Binance does, same time, price and side") {
  TradeStore store;
  store.apply(trade(10, "0.2312", "100.0", 1000, true));
  store.apply(trade(11, "0.2312", "50.5", 1000, true));  // continues 10
  store.apply(trade(12, "0.2312", "1.0", 1000, false));  // the other side
  store.apply(trade(13, "0.2313", "2.0", 1000, false));  // another price
  store.apply(trade(14, "0.2313", "3.0", 1001, false));  // another time
  store.apply(trade(15, "0.2313", "4.0", 1001, false));  // continues 14
  const auto aggs = store.aggregates({"TRXUSDT", std::nullopt, std::nullopt, std::nullopt, 500});
  REQUIRE(aggs.size() == 4);
  CHECK(aggs[0].id == 10);
  CHECK(aggs[0].first_id == 10);
  CHECK(aggs[0].last_id == 11);
  CHECK(aggs[0].quantity.to_string() == "150.5");
  CHECK(aggs[1].first_id == 12);
  CHECK(aggs[1].last_id == 12);
  CHECK(aggs[3].first_id == 14);
  CHECK(aggs[3].last_id == 15);
  CHECK(aggs[3].quantity == *Decimal::parse("7"));
  CHECK(store.trades("TRXUSDT", std::nullopt, 2).front().id == 14);
  CHECK(store.trades("TRXUSDT", 12, 2).back().id == 13);
  CHECK_FALSE(store.aggregated("TRXUSDT"));
}

TEST_CASE("trades: the stream's aggregates are aggTrades' - a tick in the middle of a run does not split it") {
  // The same trades as aggTrades forms them (above), arriving with server ticks between them.
  RunFormer former;
  TradeStore store;
  std::vector<HeldTrade> sent;
  const auto add = [&](const Trade& t) {
    store.apply(t);
    if (auto run = former.add(t.symbol, held(t))) sent.push_back(*run);
  };
  const auto tick = [&] {
    for (const auto& [symbol, run] : former.tick()) sent.push_back(run);
  };
  add(trade(10, "0.2312", "100.0", 1000, true));
  tick();  // a tick between two trades of one run (the old stream sent 10 alone here)
  add(trade(11, "0.2312", "50.5", 1000, true));
  add(trade(12, "0.2312", "1.0", 1000, false));
  add(trade(13, "0.2313", "2.0", 1000, false));
  tick();
  add(trade(14, "0.2313", "3.0", 1001, false));
  tick();
  add(trade(15, "0.2313", "4.0", 1001, false));
  CHECK(sent.size() == 3);  // 14-15 is still forming
  tick();
  CHECK(sent.size() == 3);
  tick();  // a whole tick without a trade: it goes out
  REQUIRE(sent.size() == 4);
  CHECK(sent == store.aggregates({"TRXUSDT", std::nullopt, std::nullopt, std::nullopt, 500}));
  tick();
  CHECK(sent.size() == 4);
}

TEST_CASE("trades: the newest per symbol are kept, and symbols are bounded") {
  TradeStore store({.per_symbol = 3, .max_symbols = 1});
  for (int i = 1; i <= 10; ++i) store.apply(trade(i, "1", "1", i * 1000));
  CHECK(store.size() == 3);
  CHECK(store.trades("TRXUSDT", std::nullopt, 500).front().id == 8);
  auto other = trade(1, "1", "1", 1);
  other.symbol = "BTCUSDT";
  CHECK(store.apply(other) == TradeApplied::refused);
  CHECK_FALSE(store.has_symbol("BTCUSDT"));
}

TEST_CASE("trades: the average price is the volume-weighted price of the last 5 minutes") {
  TradeStore store;
  CHECK_FALSE(store.average("TRXUSDT", 8).has_value());
  store.apply(trade(1, "100", "1", 0));      // 6 minutes before the last: out
  store.apply(trade(2, "2", "1", 61'000));   // in (the 300 seconds after 60)
  store.apply(trade(3, "4", "3", 360'000));  // the last
  const auto a = store.average("TRXUSDT", 8);
  REQUIRE(a);
  CHECK(a->price.to_string() == "3.50000000");  // (2 + 12) / 4
  CHECK(a->close_time == 360'000);
}

TEST_CASE("trades: 200 symbols x 1,000 trades - bytes per trade and per symbol, measured") {
  const auto heap = [] { return mallinfo2().uordblks; };
  const auto before = heap();
  {
    TradeStore store({.per_symbol = 1'000, .max_symbols = 1'000});
    for (int symbol = 0; symbol < 200; ++symbol)
      for (std::int64_t i = 1; i <= 1'500; ++i) {  // 1,500 seconds: the per-second sums are full (300)
        auto t = trade(i, "0.23120000", "2619.40000000", i * 1'000, i % 2 == 0);
        t.symbol = "S" + std::to_string(symbol) + "USDT";
        store.apply(t);
      }
    REQUIRE(store.size() == 200'000);
    const auto used = static_cast<double>(heap() - before);
    const auto per_symbol_bound = static_cast<double>(1'000 * kBytesPerTrade + kBytesPerTradeSymbol);
    std::printf("trades: %.0f bytes per symbol of 1,000 trades (bound %.0f)\n", used / 200, per_symbol_bound);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    CHECK(used / 200 <= per_symbol_bound);  // the memory bound's arithmetic (service.cpp fit_memory)
#endif
  }
}
