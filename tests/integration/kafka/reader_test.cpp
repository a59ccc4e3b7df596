// KafkaReader against the embedded broker: the newest record of a key, offsets for a
// timestamp, reading to the end outside any group.
#include "cryptoflow/kafka/reader.hpp"

#include <catch2/catch.hpp>

#include "cryptoflow/kafka/producer.hpp"
#include "embedded_broker.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

TEST_CASE("newest: the last record of a key - far back too - not behind a time bound - none for an unknown key") {
  DevBroker broker({1, 0, 1}, {"t.state"});
  MetricsRegistry metrics;
  kafka::KafkaProducer p(props_for(broker), metrics);
  produce(p, "t.state", "old", "first", 1'000);
  produce(p, "t.state", "a", "a1", 2'000);
  for (int i = 0; i < 3000; ++i) produce(p, "t.state", "b", "b" + std::to_string(i), 3'000 + i);  // read back in steps
  produce(p, "t.state", "a", "a2", 10'000);
  for (int i = 0; i < 100; ++i) produce(p, "t.state", "b", "later", 10'001);
  p.flush(30s);
  kafka::KafkaReader reader(props_for(broker));
  const kafka::TopicPartition tp{"t.state", 0};
  const auto a = reader.newest(tp, "a", 0, 30s, {});
  REQUIRE(a);
  CHECK(a->value == "a2");
  CHECK(a->offset == 3002);
  const auto old = reader.newest(tp, "old", 0, 30s, {});
  REQUIRE(old);
  CHECK(old->offset == 0);
  CHECK_FALSE(reader.newest(tp, "old", 6'000, 30s, {}));  // gives up after a step older than the bound
  CHECK(reader.newest(tp, "old", 1'000, 30s, {}));
  CHECK_FALSE(reader.newest(tp, "nobody", 0, 30s, {}));
  CHECK(reader.partition_count("t.state", 10s) == 1);
}

TEST_CASE("Reading every partition to its end without a group - offsets for a time within the partition") {
  DevBroker broker({1, 0, 3}, {"t.times"});
  MetricsRegistry metrics;
  kafka::KafkaProducer p(props_for(broker), metrics);
  for (int i = 0; i < 30; ++i)
    p.produce({.topic = "t.times", .value = std::to_string(i), .timestamp = 1'000 + i * 100, .partition = i % 3});
  p.flush(30s);
  kafka::KafkaReader reader(props_for(broker));
  // librdkafka's mock answers every ListOffsets with the end of the partition, whatever the
  // time asked (a real broker gives the first offset at or after it): check what holds on both.
  const auto late = reader.offsets_for_time("t.times", 99'000, 10s);
  REQUIRE(late.size() == 3);
  for (const auto& [tp, offset] : late) CHECK(offset == 10);  // nothing that late: the end
  const auto from = reader.offsets_for_time("t.times", 2'000, 10s);
  for (const auto& [tp, offset] : from) CHECK((offset >= 0 && offset <= 10));
  reader.assign({{{"t.times", 0}, 0}, {{"t.times", 1}, 4}, {{"t.times", 2}, 0}});
  std::vector<int> values;
  REQUIRE(eventually(
      [&] {
        while (auto r = reader.poll(50ms)) values.push_back(std::stoi(r->value));
        return reader.at_end({"t.times", 0}) && reader.at_end({"t.times", 1}) && reader.at_end({"t.times", 2});
      },
      30s, 0ms));
  std::sort(values.begin(), values.end());
  CHECK(values.size() == 26);  // partition 1 from its fifth record (i = 13)
  CHECK(std::count(values.begin(), values.end(), 10) == 0);
  CHECK(reader.watermarks({"t.times", 1}, 10s).high == 10);
}

TEST_CASE("tail: the last n committed records - past an aborted transaction - fewer when the partition holds fewer") {
  DevBroker broker({1, 0, 1}, {"t.tail", "t.short"});
  MetricsRegistry metrics;
  kafka::KafkaProducer tx(props_for(broker), metrics, "tail-test");
  tx.init_transactions(30s);
  tx.begin_transaction();
  for (int i = 0; i < 200; ++i) produce(tx, "t.tail", "k", "a" + std::to_string(i));
  tx.commit_transaction(30s);
  tx.begin_transaction();
  for (int i = 0; i < 100; ++i) produce(tx, "t.tail", "k", "aborted");
  tx.abort_transaction(30s);
  tx.begin_transaction();
  for (int i = 0; i < 5; ++i) produce(tx, "t.tail", "k", "b" + std::to_string(i));
  tx.commit_transaction(30s);
  {
    kafka::KafkaProducer p(props_for(broker), metrics);
    produce(p, "t.short", "k", "only");
    p.flush(10s);
  }
  kafka::KafkaReader reader(props_for(broker));
  const auto last = reader.tail({"t.tail", 0}, 10, 30s);
  std::vector<std::string> values;
  for (const auto& r : last) values.push_back(r.value);
  CHECK(values == std::vector<std::string>{"a195", "a196", "a197", "a198", "a199", "b0", "b1", "b2", "b3", "b4"});
  CHECK(std::is_sorted(last.begin(), last.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; }));
  const auto one = reader.tail({"t.short", 0}, 10, 30s);
  REQUIRE(one.size() == 1);
  CHECK(one[0].value == "only");
  CHECK(reader.tail({"t.short", 0}, 0, 10s).empty());
}
