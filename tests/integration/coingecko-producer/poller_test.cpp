// coingecko-producer's client and poller against a stand-in CoinGecko (a real local HTTP
// server serving the recorded responses) with an injectable clock.
#include "coingecko-producer/src/poller.hpp"

#include <catch2/catch.hpp>
#include <thread>

#include "coingecko-producer/src/client.hpp"
#include "coingecko-producer/src/markets.hpp"
#include "stand_in.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::coingecko;
using namespace std::chrono_literals;

using namespace cryptoflow::coingecko::testing;

TEST_CASE("Tickers are published once per last_updated - failures make the poller unready") {
  std::string body = markets();
  bool fail = false;
  test::HttpStandIn server([&](const test::HttpRequest&) {
    return fail ? test::HttpReply{500, "oops", {}} : test::HttpReply{200, body, {}};
  });
  MetricsRegistry m;
  FakeClock clock(0);
  CallBudget budget(1000);
  auto o = options_for(server);
  o.max_attempts = 1;
  CoinGeckoClient client(o, clock, budget, m);
  std::vector<Ticker> published;
  PollerOptions po;
  po.top_n = 100;
  po.vs_currencies = {"usd", "eur"};
  Poller poller(
      po, client, clock, [&](const Ticker& t) { published.push_back(t); }, m);
  REQUIRE(poller.poll_once());
  CHECK(published.size() == 200);
  REQUIRE(poller.poll_once());
  CHECK(published.size() == 200);  // nothing changed
  CHECK(m.value("cryptoflow_coingecko_unchanged_skipped_total") == 200);
  const std::string from = "\"last_updated\": \"2023-01-08T16:49:40.132Z\"";  // bitcoin's
  body.replace(body.find(from), from.size(), "\"last_updated\": \"2023-01-08T16:50:40.132Z\"");
  REQUIRE(poller.poll_once());
  REQUIRE(published.size() == 202);  // bitcoin, in usd and eur
  CHECK(published[200].coin == "bitcoin");
  CHECK(published[200].last_updated == 1673196640132);
  fail = true;
  CHECK(poller.ready());
  for (int i = 0; i < 3; ++i) CHECK_FALSE(poller.poll_once());
  CHECK_FALSE(poller.ready());
  fail = false;
  CHECK(poller.poll_once());
  CHECK(poller.ready());
}

TEST_CASE("A simulated hour of polling never exceeds the budget in any 60-second window") {
  // 2 currencies x 2 pages every 60 s, a budget of 3 calls a minute, and a server that answers
  // 429 to every 7th request and 500 to every 11th: the poller is starved and retries, and
  // still never sends a 4th request within any 60 s.
  int calls = 0;
  test::HttpStandIn server([&](const test::HttpRequest&) {
    ++calls;
    if (calls % 7 == 0) return test::HttpReply{429, "", {{"Retry-After", "5"}}};
    if (calls % 11 == 0) return test::HttpReply{500, "<html>error</html>", {}};
    return test::HttpReply{200, markets(), {}};
  });
  MetricsRegistry m;
  const std::int64_t start = 1'700'000'000'000;
  FakeClock clock(start, start + 3'600'000);
  CallBudget budget(3);
  auto o = options_for(server);
  o.first_backoff_ms = 500;
  CoinGeckoClient client(o, clock, budget, m);
  std::vector<std::int64_t> sent;
  client.on_request = [&](std::int64_t t) { sent.push_back(t); };
  PollerOptions po;
  po.top_n = 300;
  po.vs_currencies = {"usd", "eur"};
  int published = 0;
  Poller poller(
      po, client, clock, [&](const Ticker&) { ++published; }, m);
  poller.run();
  INFO("requests sent: " << sent.size());
  REQUIRE(sent.size() > 150);  // close to 3 a minute for an hour
  CHECK(test::max_in_window(sent, 60'000) <= 3);
  CHECK(sent.back() < start + 3'600'000);
  CHECK(published == 200);  // 100 coins x 2 currencies, once each (the data never changes)
  CHECK(m.value("cryptoflow_coingecko_poll_overruns_total") > 0);  // 4+ calls at 3/min cannot fit 60 s
  CHECK(m.value("cryptoflow_coingecko_budget_waits_total") > 0);
}
