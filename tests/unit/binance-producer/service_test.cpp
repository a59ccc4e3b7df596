// binance-producer's configuration: defaults, live or replay, and bad values refused naming the
// variable.
#include "service.hpp"

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
  CHECK(o.live->rotate_after == std::chrono::hours(23));
  CHECK(o.stream == "trade");
  CHECK(o.topic == "crypto.trades");
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
