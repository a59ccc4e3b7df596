// coingecko-producer's client and poller against a stand-in CoinGecko (a real local HTTP
// server serving the recorded responses) with an injectable clock.
#include "coingecko-producer/src/client.hpp"

#include <catch2/catch.hpp>
#include <thread>

#include "coingecko-producer/src/markets.hpp"
#include "coingecko-producer/src/poller.hpp"
#include "stand_in.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::coingecko;
using namespace std::chrono_literals;

using namespace cryptoflow::coingecko::testing;

TEST_CASE("Requests: the plan's key header - pages for the top N - chunks of 250 ids") {
  test::HttpStandIn server([](const test::HttpRequest&) { return test::HttpReply{200, markets(), {}}; });
  MetricsRegistry m;
  FakeClock clock(0);
  CallBudget budget(1000);
  for (const auto& plan : {"demo", "pro"}) {
    CoinGeckoClient client(options_for(server, plan), clock, budget, m);
    REQUIRE(client.get("/ping").status == FetchStatus::ok);
  }
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].target == "/api/v3/ping");
  CHECK(reqs[0].headers.at("x-cg-demo-api-key") == "CG-s3cr3tKEY");
  CHECK(reqs[1].headers.at("x-cg-pro-api-key") == "CG-s3cr3tKEY");
  CHECK(reqs[0].headers.count("x-cg-pro-api-key") == 0);

  CoinGeckoClient client(options_for(server), clock, budget, m);
  PollerOptions po;
  po.top_n = 300;
  Poller top(
      po, client, clock, [](const Ticker&) {}, m);
  CHECK(top.request_paths("usd") ==
        std::vector<std::string>{
            "/coins/markets?vs_currency=usd&order=market_cap_desc&per_page=250&page=1&sparkline=false",
            "/coins/markets?vs_currency=usd&order=market_cap_desc&per_page=250&page=2&sparkline=false"});
  po.top_n = 50;
  CHECK(Poller(
            po, client, clock, [](const Ticker&) {}, m)
            .request_paths("eur") ==
        std::vector<std::string>{
            "/coins/markets?vs_currency=eur&order=market_cap_desc&per_page=50&page=1&sparkline=false"});
  po.ids.clear();
  for (int i = 0; i < 600; ++i) po.ids.push_back("coin" + std::to_string(i));
  const auto paths = Poller(
                         po, client, clock, [](const Ticker&) {}, m)
                         .request_paths("usd");
  REQUIRE(paths.size() == 3);
  CHECK(std::count(paths[0].begin(), paths[0].end(), ',') == 249);
  CHECK(std::count(paths[2].begin(), paths[2].end(), ',') == 99);
}

TEST_CASE("429 waits for Retry-After or backs off - 5xx HTML pages and slow answers are retried") {
  int calls = 0;
  test::HttpStandIn server([&](const test::HttpRequest&) {
    switch (++calls) {
      case 1: return test::HttpReply{429, "{\"status\":{\"error_code\":429}}", {{"Retry-After", "30"}}};
      case 2: return test::HttpReply{429, "", {}};
      case 3: return test::HttpReply{503, "<html><body>Service Unavailable</body></html>", {}};
      case 4: std::this_thread::sleep_for(1500ms); return test::HttpReply{200, markets(), {}};  // past the timeout
      default: return test::HttpReply{200, markets(), {}};
    }
  });
  MetricsRegistry m;
  FakeClock clock(1'000'000);
  CallBudget budget(1000);
  auto o = options_for(server);
  o.max_attempts = 10;  // the stand-in answers one request at a time: a retry may queue behind the slow one
  CoinGeckoClient client(o, clock, budget, m);
  std::vector<std::int64_t> sent;
  client.on_request = [&](std::int64_t t) { sent.push_back(t); };
  const auto r = client.get("/coins/markets?vs_currency=usd");
  REQUIRE(r.status == FetchStatus::ok);
  REQUIRE(sent.size() >= 5);
  CHECK(sent[1] - sent[0] >= 30'000);  // Retry-After honoured
  CHECK(sent[2] - sent[1] >= 1'000);   // backoff (2 s with jitter: at least 1 s)
  CHECK(sent[2] - sent[1] <= 2'000);
  CHECK(sent[3] - sent[2] >= 2'000);  // backoff doubled (4 s with jitter)
  CHECK(m.value("cryptoflow_coingecko_retries_total") == static_cast<double>(sent.size() - 1));
  CHECK(m.value("cryptoflow_coingecko_requests_total", {{"status", "429"}}) == 2);
  CHECK(m.value("cryptoflow_coingecko_requests_total", {{"status", "503"}}) == 1);
  CHECK(m.value("cryptoflow_coingecko_requests_total", {{"status", "error"}}) >= 1);  // the timeout
  CHECK(parse_markets(r.body, "usd", 0).tickers.size() == 100);
}

TEST_CASE("A wrong key is reported once with what to change - and the key never appears in logs") {
  test::HttpStandIn server([](const test::HttpRequest&) {
    return test::HttpReply{
        400,
        R"({"status":{"error_code":10010,"error_message":"If you are using Pro API key CG-s3cr3tKEY, )"
        R"(please change your root URL from api.coingecko.com to pro-api.coingecko.com"}})",
        {}};
  });
  MetricsRegistry m;
  FakeClock clock(0);
  CallBudget budget(1000);
  StderrCapture capture;
  CoinGeckoClient client(options_for(server), clock, budget, m);
  CHECK(client.get("/coins/markets?vs_currency=usd").status == FetchStatus::config_error);
  CHECK(client.get("/coins/markets?vs_currency=eur").status == FetchStatus::config_error);
  const auto logs = capture.text();
  CHECK(server.requests().size() == 2);  // not retried
  CHECK(logs.find("COINGECKO_PLAN=pro") != std::string::npos);
  CHECK(std::count(logs.begin(), logs.end(), '\n') == 1);  // reported once
  CHECK(logs.find("CG-s3cr3tKEY") == std::string::npos);
  CHECK(logs.find("***") != std::string::npos);
  CHECK(m.render().find("s3cr3t") == std::string::npos);
}
