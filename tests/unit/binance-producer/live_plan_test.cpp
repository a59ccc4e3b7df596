// binance-producer's live-mode plan without a network: stream URLs, gap tracking, reconnect
// delays and the connection-attempt budget.
#include "binance-producer/src/live_plan.hpp"

#include <catch2/catch.hpp>

#include "cryptoflow/runtime/call_budget.hpp"
#include "cryptoflow/runtime/config.hpp"
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

  const auto p = parse_ws_or_http_url("wss://stream.binance.com:9443/stream?streams=a@trade", "BINANCE_WS_URL");
  CHECK(p.secure());
  CHECK(p.host == "stream.binance.com");
  CHECK(p.port == "9443");
  CHECK(p.target == "/stream?streams=a@trade");
  CHECK(parse_ws_or_http_url("ws://127.0.0.1", "X").port == "80");
  CHECK(parse_ws_or_http_url("https://api.binance.com", "X").target == "/");
  CHECK_THROWS_AS(parse_ws_or_http_url("stream.binance.com:9443", "BINANCE_WS_URL"), ConfigError);
  CHECK_THROWS_AS(parse_ws_or_http_url("wss://host:port/", "BINANCE_WS_URL"), ConfigError);
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
  // Far below the last id: not a repeat but a new start (the last id was bogus).
  g.published("A", 5'000'000);
  CHECK(g.check("A", 5'000'000 - GapTracker::kResyncDistance).verdict == GapTracker::Verdict::duplicate);
  CHECK(g.check("A", 4'000'000).verdict == GapTracker::Verdict::resync);
  g.reset("A", 4'000'000);
  CHECK(g.check("A", 4'000'001).verdict == GapTracker::Verdict::in_order);
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
