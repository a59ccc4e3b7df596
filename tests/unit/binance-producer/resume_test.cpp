// Where a restarted producer resumes: each symbol's newest trade in the topic, found in the
// partition the key goes to.
#include "binance-producer/src/resume.hpp"

#include <catch2/catch.hpp>

#include "cryptoflow/messages/messages.hpp"
#include "fake_kafka.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;

namespace {

std::string trade_json(const std::string& symbol, std::int64_t id, std::int64_t time) {
  Trade t;
  t.source = "binance";
  t.symbol = symbol;
  t.trade_id = id;
  t.trade_time = t.event_time = t.received_time = time;
  t.price = *Decimal::parse("1.5");
  t.quantity = *Decimal::parse("2");
  return to_json(t);
}

}  // namespace

TEST_CASE("Resume: each symbol's newest trade id - in its key's partition - none for a symbol not there") {
  FakeCluster c;
  c.create_topic("crypto.trades", 4);
  const auto put = [&](const std::string& symbol, std::int64_t id, std::int64_t time) {
    c.append("crypto.trades", symbol, trade_json(symbol, id, time), time, kafka::default_partition(symbol, 4));
  };
  for (std::int64_t i = 0; i < 50; ++i) {
    put("BTCUSDT", 1'000 + i, 10'000 + i);
    put("ETHUSDT", 7'000 + i, 10'000 + i);
  }
  put("BTCUSDT", 1'050, 20'000);
  c.append("crypto.trades", "XRPUSDT", "{not json", 20'000, kafka::default_partition("XRPUSDT", 4));
  FakeReader reader(c);
  const auto ids = binance::last_trade_ids(reader, "crypto.trades", {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"}, 0,
                                           std::chrono::seconds(1), {});
  CHECK(ids == std::map<std::string, std::int64_t>{{"BTCUSDT", 1'050}, {"ETHUSDT", 7'049}});
  // Nothing newer than the look-back: a fresh start.
  CHECK(binance::last_trade_ids(reader, "crypto.trades", {"ETHUSDT"}, 30'000, std::chrono::seconds(1), {}).empty());
}

TEST_CASE("Resume: BINANCE_SYMBOLS become the topic's keys - upper case - once each") {
  CHECK(binance::topic_keys({"btcusdt", "BTCUSDT", "ethUsdt"}) == std::vector<std::string>{"BTCUSDT", "ETHUSDT"});
}
