// KafkaAdmin against the embedded broker (which does not implement CreateTopics or
// DescribeConfigs: those must be reported, never crash).
#include "cryptoflow/kafka/admin.hpp"

#include <catch2/catch.hpp>

#include "cryptoflow/kafka/consumer.hpp"
#include "cryptoflow/kafka/producer.hpp"
#include "embedded_broker.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

TEST_CASE("ensure_topics: existing topics are fine - a broker without CreateTopics is reported - not a crash") {
  DevBroker broker({1, 0, 3}, {"t.exists"});
  kafka::KafkaAdmin admin(props_for(broker));
  auto report = admin.ensure_topics({{"t.exists", 3, 1, {}}}, 5s);
  CHECK(report.ok());
  CHECK(report.existing == std::vector<std::string>{"t.exists"});
  report = admin.ensure_topics({{"t.exists", 3, 1, {}}, {"t.missing", 3, 1, {{"cleanup.policy", "compact"}}}}, 3s);
  CHECK_FALSE(report.ok());
  REQUIRE(report.failed.size() == 1);
  CHECK(report.failed[0].first == "t.missing");
  CHECK(report.created.empty());
  // Configurations: the mock cannot describe them (it times out waiting for a controller): no
  // mismatch is made up, nothing throws.
  CHECK(admin.check_configs({{"t.exists", 3, 1, {{"cleanup.policy", "compact"}}}}, 2s).empty());
}

TEST_CASE("Topics - committed offsets and a group's lag") {
  DevBroker broker({1, 0, 2}, {"t.lag", "t.other"});
  MetricsRegistry metrics;
  {
    kafka::KafkaProducer p(props_for(broker), metrics);
    for (int i = 0; i < 10; ++i) p.produce({.topic = "t.lag", .value = "x", .partition = i % 2});
  }
  {
    kafka::KafkaConsumer c(props_for(broker), "g.lag", {"t.lag"});
    REQUIRE(consume(c, 10, 30s).size() == 10);
    c.commit({{{"t.lag", 0}, 2}});
  }
  kafka::KafkaAdmin admin(props_for(broker));
  const auto topics = admin.topics(10s);
  CHECK(
      std::any_of(topics.begin(), topics.end(), [](const auto& t) { return t.name == "t.lag" && t.partitions == 2; }));
  CHECK(admin.committed("g.lag", {{"t.lag", 0}, {"t.lag", 1}}, 10s) == kafka::OffsetMap{{{"t.lag", 0}, 2}});
  const auto lag = admin.group_lag("g.lag", {"t.lag"}, 10s);
  REQUIRE(lag.size() == 2);
  CHECK(lag.at({"t.lag", 0}).lag() == 3);  // 5 records, 2 committed
  CHECK(lag.at({"t.lag", 1}).lag() == 5);  // never committed: all of it
  CHECK_FALSE(lag.at({"t.lag", 1}).committed.has_value());
  CHECK(admin.reachable(2s));
}

TEST_CASE("An unreachable cluster: reachable() says so within its timeout - ensure_topics reports it") {
  kafka::Properties props;
  props.set("bootstrap.servers", "127.0.0.1:" + std::to_string(free_port()));
  kafka::KafkaAdmin admin(props);
  const auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(admin.reachable(500ms));
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  const auto report = admin.ensure_topics({{"t.any", 1, 1, {}}}, 1s);
  REQUIRE(report.failed.size() == 1);
  CHECK(report.failed[0].second.find("cannot list topics") == 0);
}
