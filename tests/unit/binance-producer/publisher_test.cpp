// The publisher and the replay loop against in-memory Kafka (tests/support/fake_kafka.hpp): what
// lands in crypto.trades, under which key and timestamp, and what is only counted.
#include "binance-producer/src/publisher.hpp"

#include <catch2/catch.hpp>

#include "binance-producer/src/replay.hpp"
#include "fake_kafka.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;

TEST_CASE("Trades are published keyed by symbol at their trade time - other frames are only counted") {
  FakeCluster cluster;
  cluster.create_topic("crypto.trades", 3);
  FakeProducer producer(cluster, false);
  MetricsRegistry metrics;
  binance::Publisher publisher(producer, "crypto.trades", metrics);
  const auto frames = trx_frames();
  for (std::size_t i = 0; i < 100; ++i) publisher.publish_frame(frames[i], 1'741'046'400'000);
  CHECK(publisher.publish_frame("{\"e\":\"kline\",\"E\":1}", 0) == binance::FrameKind::ignored);
  CHECK(publisher.publish_frame("{\"e\":\"trade\",", 0) == binance::FrameKind::malformed);
  const auto records = cluster.committed_records("crypto.trades");
  REQUIRE(records.size() == 100);
  const auto trades = trx_trades();
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto t = decode_trade(records[i].value);
    REQUIRE(t);
    CHECK(records[i].key == "TRXUSDT");
    CHECK(records[i].timestamp == t.value->trade_time);
    CHECK(t.value->trade_id == trades[i].trade_id);
    CHECK(t.value->price == trades[i].price);
  }
  CHECK(metrics.value("cryptoflow_binance_trades_total") == 100);
  CHECK(metrics.value("cryptoflow_binance_frames_total") == 102);
  CHECK(metrics.value("cryptoflow_binance_ignored_frames_total") == 1);
  CHECK(metrics.value("cryptoflow_binance_decode_errors_total", {{"kind", "malformed"}}) == 1);
}

TEST_CASE("Replay publishes every trade of a file in order - and stops when asked") {
  FakeCluster cluster;
  cluster.create_topic("crypto.trades", 1);
  FakeProducer producer(cluster, false);
  MetricsRegistry metrics;
  binance::Publisher publisher(producer, "crypto.trades", metrics);
  binance::ReplayFile file(fixture("freqtrade/XRPETH.aggTrade.jsonl"));
  CHECK(binance::replay(file, publisher, producer, 0, [] { return false; }) == 12'477);
  const auto records = cluster.committed_records("crypto.trades");
  REQUIRE(records.size() == 12'477);
  const auto expected = xrpeth_trades();
  for (std::size_t i = 0; i < records.size(); i += 997) {
    auto t = *decode_trade(records[i].value).value;
    CHECK(t.received_time > 0);  // the replay's clock: the file has no receive times
    t.received_time = expected[i].received_time;
    CHECK(t == expected[i]);
  }

  binance::ReplayFile again(fixture("freqtrade/XRPETH.aggTrade.jsonl"));
  int asked = 0;
  CHECK(binance::replay(again, publisher, producer, 0, [&] { return ++asked > 10; }) == 10);
}
