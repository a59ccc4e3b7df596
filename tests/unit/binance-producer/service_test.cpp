// binance-producer's configuration: defaults, live or replay, and bad values refused naming the
// variable.
#include "binance-producer/src/service.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace cryptoflow;

namespace {

binance::Options parse(Config::Env env) {
  return binance::parse(Config(binance::service_info().vars, std::move(env)));
}

std::string error_of(Config::Env env) {
  return test::config_error(binance::service(), std::move(env));
}

}  // namespace

TEST_CASE("binance-producer: live by default - one combined stream for the default symbols, trades and books") {
  const auto o = parse({});
  REQUIRE(o.live);
  REQUIRE(o.live->urls.size() == 1);
  CHECK(o.live->urls[0] ==
        "wss://stream.binance.com:9443/stream?streams=bnbusdt@depth@100ms/bnbusdt@trade/btcusdt@depth@100ms/"
        "btcusdt@trade/ethusdt@depth@100ms/ethusdt@trade/solusdt@depth@100ms/solusdt@trade/xrpusdt@depth@100ms/"
        "xrpusdt@trade");
  REQUIRE(o.live->depth);
  CHECK(o.live->depth->limit == 1000);
  CHECK(o.live->depth->snapshot_every == std::chrono::seconds(30));
  CHECK(o.live->rest_weight_per_minute == 3000);
  CHECK(o.books_topic == "crypto.books");
  CHECK(parse({{"BINANCE_DEPTH", "1000ms"}}).live->urls[0].find("btcusdt@depth/") != std::string::npos);
  const auto off = parse({{"BINANCE_DEPTH", "off"}});
  CHECK_FALSE(off.live->depth);
  CHECK(off.live->urls[0].find("depth") == std::string::npos);
  CHECK_THROWS_AS(parse({{"BINANCE_DEPTH", "10ms"}}), ConfigError);
  CHECK_THROWS_AS(parse({{"BINANCE_DEPTH_LIMIT", "6000"}}), ConfigError);
  CHECK(o.live->rest_base == "https://api.binance.com");
  CHECK(o.live->rest_api == "/api/v3");
  CHECK(o.live->rotate_after == std::chrono::hours(23));
  CHECK(o.stream == "trade");
  CHECK(o.topic == "crypto.trades");
}

TEST_CASE("binance-producer: BINANCE_MARKET=usdm - USD-M futures' endpoints, streams, limits and weights") {
  const auto o = parse({{"BINANCE_MARKET", "usdm"}, {"BINANCE_STREAM", "aggTrade"}, {"BINANCE_SYMBOLS", "sushiusdt"}});
  REQUIRE(o.live);
  CHECK(o.live->urls ==
        std::vector<std::string>{"wss://fstream.binance.com/stream?streams=sushiusdt@aggTrade/sushiusdt@depth@100ms"});
  CHECK(o.live->rest_base == "https://fapi.binance.com");
  CHECK(o.live->rest_api == "/fapi/v1");
  REQUIRE(o.live->depth);
  CHECK(o.live->depth->chain == binance::BookSync::Chain::futures);
  CHECK(o.live->rest_weight_per_minute == 2400);  // 3000 asked; futures allow 2400 an IP
  const Config::Env futures{{"BINANCE_MARKET", "usdm"}, {"BINANCE_STREAM", "aggTrade"}, {"BINANCE_SYMBOLS", "x1"}};
  const auto with = [&](Config::Env more) {
    more.insert(futures.begin(), futures.end());
    return more;
  };
  CHECK(parse(with({{"BINANCE_DEPTH", "250ms"}})).live->urls[0].ends_with("x1@depth"));
  CHECK(parse(with({{"BINANCE_DEPTH", "500ms"}})).live->urls[0].ends_with("x1@depth@500ms"));
  CHECK(parse(with({{"BINANCE_WS_URL", "ws://127.0.0.1:9"}})).live->urls[0].starts_with("ws://127.0.0.1:9/stream?"));
  CHECK(error_of(with({{"BINANCE_DEPTH", "1000ms"}})).find("USD-M futures stream 100ms, 250ms or 500ms") !=
        std::string::npos);
  CHECK(error_of({{"BINANCE_DEPTH", "250ms"}}).find("spot streams 100ms or 1000ms") != std::string::npos);
  CHECK(error_of(with({{"BINANCE_DEPTH_LIMIT", "5000"}})).find("USD-M futures answer 5, 10") != std::string::npos);
  CHECK(parse(with({{"BINANCE_DEPTH_LIMIT", "500"}})).live->depth->limit == 500);
  CHECK(error_of({{"BINANCE_MARKET", "usdm"}}).find("with BINANCE_MARKET=usdm use aggTrade") != std::string::npos);
  CHECK(binance::depth_weight(1000, binance::BookSync::Chain::futures) == 20);
  CHECK(binance::depth_weight(50, binance::BookSync::Chain::futures) == 2);
}

TEST_CASE("binance-producer: REPLAY_FILE selects replay mode - a file that cannot be read is refused at once") {
  const auto file = test::fixture("freqtrade/XRPETH.aggTrade.jsonl");
  const auto o = parse({{"REPLAY_FILE", file}, {"REPLAY_SPEED", "2.5"}});
  CHECK_FALSE(o.live);
  CHECK(o.replay_file == file);
  CHECK(o.replay_speed == 2.5);
  CHECK(error_of({{"REPLAY_FILE", "/nonexistent/trades.jsonl"}}) ==
        "REPLAY_FILE='/nonexistent/trades.jsonl' cannot be read");
}

TEST_CASE("binance-producer: bad values are refused naming the variable") {
  CHECK(error_of({{"BINANCE_STREAM", "kline"}}).find("BINANCE_STREAM='kline'") == 0);
  CHECK(error_of({{"BINANCE_SYMBOLS", ","}}) == "BINANCE_SYMBOLS is empty");
  for (const auto* speed : {"-1", "fast", "nan", "inf", ""})
    CHECK(error_of({{"REPLAY_FILE", test::fixture("freqtrade/XRPETH.aggTrade.jsonl")}, {"REPLAY_SPEED", speed}})
              .find("REPLAY_SPEED='") == 0);
  CHECK(error_of({{"BINANCE_WS_URL", "ftp://x"}}).find("BINANCE_WS_URL") == 0);
  CHECK(error_of({{"BINANCE_RECONNECT_MIN", "2m"}, {"BINANCE_RECONNECT_MAX", "1m"}}).find("BINANCE_ROTATE_AFTER") == 0);
  CHECK(error_of({{"BINANCE_MAX_FRAME_BYTES", "10"}}).find("BINANCE_MAX_FRAME_BYTES=10 is out of range") == 0);
  // No larger than what the frame decoder takes.
  CHECK(error_of({{"BINANCE_MAX_FRAME_BYTES", "16000000"}}) ==
        "BINANCE_MAX_FRAME_BYTES=16000000 is out of range [1024, 65536]");
  CHECK(error_of({{"BINANCE_WS_URL", "wss://h:99999"}}).find("BINANCE_WS_URL='wss://h:99999/stream?streams=") == 0);
  CHECK(error_of({{"BINANCE_REST_URL", "https://[::1"}}) ==
        "BINANCE_REST_URL='https://[::1' has an IPv6 address without its closing ']'");
}
