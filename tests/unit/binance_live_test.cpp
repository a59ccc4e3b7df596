// binance-producer's live-mode logic without a network: stream URLs, gap tracking, reconnect
// delays and budget, the REST backfill (against a scripted API) and CSV replay formats.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>

#include "backfill.hpp"
#include "cryptoflow/call_budget.hpp"
#include "cryptoflow/config.hpp"
#include "frame_decoder.hpp"
#include "live_plan.hpp"
#include "replay.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::binance;
using namespace std::chrono_literals;

TEST_CASE("Stream URLs: lower-case combined streams - split past 1024 per connection") {
  auto urls = stream_urls("wss://stream.binance.com:9443/", {"BTCUSDT", "ethusdt", "btcusdt"}, "trade");
  REQUIRE(urls.size() == 1);
  CHECK(urls[0] == "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@trade");
  std::vector<std::string> many;
  for (int i = 0; i < 2500; ++i) many.push_back("S" + std::to_string(i) + "USDT");
  urls = stream_urls("wss://x", many, "aggTrade");
  REQUIRE(urls.size() == 3);
  std::size_t streams = 0;
  for (const auto& u : urls) {
    const auto n = static_cast<std::size_t>(std::count(u.begin(), u.end(), '@'));
    CHECK(n <= kMaxStreamsPerConnection);
    streams += n;
  }
  CHECK(streams == 2500);
  CHECK_THROWS_AS(stream_urls("wss://x", {"BTC/USDT"}, "trade"), ConfigError);

  const auto p = parse_url("wss://stream.binance.com:9443/stream?streams=a@trade", "BINANCE_WS_URL");
  CHECK(p.tls);
  CHECK(p.host == "stream.binance.com");
  CHECK(p.port == "9443");
  CHECK(p.target == "/stream?streams=a@trade");
  CHECK(parse_url("ws://127.0.0.1", "X").port == "80");
  CHECK(parse_url("https://api.binance.com", "X").target == "/");
  CHECK_THROWS_AS(parse_url("stream.binance.com:9443", "BINANCE_WS_URL"), ConfigError);
  CHECK_THROWS_AS(parse_url("wss://host:port/", "BINANCE_WS_URL"), ConfigError);
}

TEST_CASE("Gap tracker: in order - duplicates - gaps per symbol") {
  GapTracker g;
  CHECK(g.check("A", 10).verdict == GapTracker::Verdict::first);
  g.published("A", 10);
  CHECK(g.check("A", 11).verdict == GapTracker::Verdict::in_order);
  CHECK(g.check("A", 10).verdict == GapTracker::Verdict::duplicate);
  CHECK(g.check("A", 3).verdict == GapTracker::Verdict::duplicate);
  const auto r = g.check("A", 15);
  CHECK(r.verdict == GapTracker::Verdict::gap);
  CHECK(r.missing_from == 11);
  CHECK(r.missing_to == 14);
  CHECK(g.check("B", 15).verdict == GapTracker::Verdict::first);
  g.published("A", 15);
  g.published("A", 12);  // never moves back
  CHECK(*g.last("A") == 15);
}

TEST_CASE("Backoff grows with jitter and resets - the attempt budget holds any window") {
  Backoff b(100ms, 5s, 7);
  std::vector<std::int64_t> d;
  for (int i = 0; i < 10; ++i) d.push_back(b.next().count());
  for (std::size_t i = 0; i < d.size(); ++i) {
    const auto ceiling = std::min<std::int64_t>(5000, 100LL << i);
    CHECK(d[i] >= ceiling / 2);
    CHECK(d[i] <= ceiling);
  }
  CHECK(d.back() >= 2500);
  b.reset();
  CHECK(b.next().count() <= 100);

  CallBudget budget(300, 300'000);  // Binance: 300 connection attempts per 5 minutes
  std::int64_t now = 3'600'000;
  std::vector<std::int64_t> times;
  for (int i = 0; i < 1000; ++i) {  // a client that would try every 100 ms
    now = budget.next_allowed(now);
    budget.record(now);
    times.push_back(now);
    now += 100;
  }
  CHECK(test::max_in_window(times, 300'000 - 1) == 300);
}

TEST_CASE("REST backfill: pages of at most 1000 - retries - what it cannot get is counted") {
  std::vector<Trade> all;
  for (std::int64_t id = 1; id <= 2600; ++id) {
    Trade t;
    t.source = "binance";
    t.symbol = "BTCUSDT";
    t.trade_id = id;
    t.trade_time = t.event_time = 1'700'000'000'000'000 + id;  // microseconds
    t.price = *Decimal::parse("42000.5");
    t.quantity = *Decimal::parse("0.001");
    all.push_back(t);
  }
  std::vector<std::string> urls;
  int fail_next = 2;
  RestGet get = [&](const std::string& url) {
    urls.push_back(url);
    if (fail_next > 0) {
      --fail_next;
      return RestAnswer{429, "", 1ms};
    }
    const auto from = std::stoll(url.substr(url.find("fromId=") + 7));
    const auto limit = std::stoll(url.substr(url.find("limit=") + 6));
    std::string body = "[";
    for (const auto& t : all)
      if (t.trade_id >= from && t.trade_id < from + limit && t.trade_id <= 2500) {  // 2501.. not there yet
        if (body.size() > 1) body += ',';
        body += "{\"id\":" + std::to_string(t.trade_id) +
                ",\"price\":\"42000.5\",\"qty\":\"0.001\",\"quoteQty\":\"42\"," +
                "\"time\":" + std::to_string(t.trade_time) + ",\"isBuyerMaker\":false,\"isBestMatch\":true}";
      }
    return RestAnswer{200, body + "]", {}};
  };
  std::vector<std::chrono::milliseconds> slept;
  const auto r = backfill(get, "https://api.binance.com/", false, "BTCUSDT", 101, 2600, 5,
                          [&](std::chrono::milliseconds d) { slept.push_back(d); });
  REQUIRE(r.trades.size() == 2400);
  for (std::size_t i = 0; i < r.trades.size(); ++i) CHECK(r.trades[i].trade_id == 101 + static_cast<std::int64_t>(i));
  CHECK(r.trades[0].trade_time == 1'700'000'000'000 + 0);  // microseconds became milliseconds
  CHECK(r.missing == 100);
  CHECK_FALSE(r.error.empty());
  CHECK(urls[0] == "https://api.binance.com/api/v3/historicalTrades?symbol=BTCUSDT&fromId=101&limit=1000");
  CHECK(slept == std::vector<std::chrono::milliseconds>{1ms, 1ms});  // Retry-After honoured
  for (const auto& u : urls) CHECK(std::stoll(u.substr(u.find("limit=") + 6)) <= 1000);

  std::vector<Trade> out;
  std::string error;
  CHECK(parse_rest_trades(R"([{"a":7,"p":"1.5","q":"2","f":10,"l":12,"T":1700000000000,"m":true,"M":true}])", true,
                          "XRPETH", 1, out, error));
  REQUIRE(out.size() == 1);
  CHECK(out[0].trade_count() == 3);
  CHECK_FALSE(parse_rest_trades(R"({"code":-1121,"msg":"Invalid symbol."})", false, "X", 1, out, error));
  CHECK(error == "not a JSON array");
  CHECK_FALSE(parse_rest_trades(R"([{"id":"7"}])", false, "X", 1, out, error));
}

TEST_CASE("Replay: Binance CSV dumps and recorded stream CSVs become the same trades as the stream") {
  const auto trx = test::trx_trades();
  auto read_all = [](const std::string& path) {
    ReplayFile f(std::string(CRYPTOFLOW_FIXTURES_DIR) + path);
    std::vector<Trade> out;
    while (auto line = f.next()) {
      const auto d = decode_frame(line->frame, line->received_ms.value_or(0));
      REQUIRE(d.kind == FrameKind::trade);
      out.push_back(d.trade);
    }
    return out;
  };
  const auto stream =
      read_all("/binance-data-processor/test_positive_binance_trade_stream_spot_trxusdt_04-03-2025.csv");
  REQUIRE(stream.size() == trx.size());
  for (std::size_t i = 0; i < trx.size(); ++i) {
    CHECK(stream[i].trade_id == trx[i].trade_id);
    CHECK(stream[i].trade_time == trx[i].trade_time);
    CHECK(stream[i].price == trx[i].price);
    CHECK(stream[i].buyer_is_maker == trx[i].buyer_is_maker);
    CHECK(stream[i].received_time >= stream[i].trade_time);
  }
  const auto dump = read_all("/binance-vision/TRXUSDT-trades-2025-03-04.csv");
  REQUIRE(dump.size() == 1000);
  for (std::size_t i = 0; i < dump.size(); ++i) {
    CHECK(dump[i].symbol == "TRXUSDT");
    CHECK(dump[i].trade_id == trx[i].trade_id);
    CHECK(dump[i].trade_time == trx[i].trade_time);
    CHECK(dump[i].quantity == trx[i].quantity);
    CHECK(dump[i].buyer_is_maker == trx[i].buyer_is_maker);
  }
  const auto agg = read_all("/binance-vision/XRPETH-aggTrades-2019-10-11.csv");
  ReplayFile jsonl(std::string(CRYPTOFLOW_FIXTURES_DIR) + "/freqtrade/XRPETH.aggTrade.jsonl");
  REQUIRE(agg.size() == 1000);
  for (const auto& t : agg) {
    const auto d = decode_frame(jsonl.next()->frame, 0);
    CHECK(t == d.trade);
  }
}
