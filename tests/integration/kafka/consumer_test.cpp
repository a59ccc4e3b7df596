// KafkaConsumer against the embedded broker: commits, ownership, cooperative rebalancing, the
// listener's errors, the prefetch wake-up.
#include "cryptoflow/kafka/consumer.hpp"

#include <catch2/catch.hpp>

#include "cryptoflow/kafka/producer.hpp"
#include "embedded_broker.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

TEST_CASE("Commit after processing: a new member of the group resumes after the last commit") {
  DevBroker broker({1, 0, 1}, {"t.commit"});
  MetricsRegistry metrics;
  {
    kafka::KafkaProducer p(props_for(broker), metrics);
    for (int i = 0; i < 100; ++i) produce(p, "t.commit", "k", std::to_string(i));
  }
  {
    kafka::KafkaConsumer c(props_for(broker), "g.commit", {"t.commit"});
    const auto records = consume(c, 100);
    REQUIRE(records.size() == 100);
    c.commit({{{"t.commit", 0}, records[39].offset + 1}});
  }  // closes without committing the other 60
  kafka::KafkaConsumer c2(props_for(broker), "g.commit", {"t.commit"});
  const auto rest = consume(c2, 60);
  REQUIRE(rest.size() == 60);
  CHECK(rest.front().value == "40");
  CHECK(rest.back().value == "99");
  CHECK(c2.committed({{"t.commit", 0}}, 10s).at({"t.commit", 0}) == 40);
}

TEST_CASE("Cooperative-sticky rebalancing: a joining member takes partitions incrementally", "[long]") {
  DevBroker broker({1, 0, 6}, {"t.rebalance"});
  std::vector<kafka::TopicPartition> a_assigned, a_revoked, b_assigned;
  kafka::KafkaConsumer a(props_for(broker), "g.rebalance");
  a.subscribe({"t.rebalance"}, {[&](const auto& p) {
                                  a_assigned.insert(a_assigned.end(), p.begin(), p.end());
                                  return kafka::OffsetMap{};
                                },
                                [&](const auto& p, bool) { a_revoked.insert(a_revoked.end(), p.begin(), p.end()); }});
  REQUIRE(eventually(
      [&] {
        a.poll(50ms);
        return a.assignment().size() == 6;
      },
      60s, 0ms));
  kafka::KafkaConsumer b(props_for(broker), "g.rebalance");
  b.subscribe({"t.rebalance"}, {[&](const auto& p) {
                                  b_assigned.insert(b_assigned.end(), p.begin(), p.end());
                                  return kafka::OffsetMap{};
                                },
                                {}});
  REQUIRE(eventually(
      [&] {
        a.poll(50ms);
        b.poll(50ms);
        return a.assignment().size() + b.assignment().size() == 6 && !b.assignment().empty() && !a.assignment().empty();
      },
      90s, 0ms));
  INFO("A revoked " << a_revoked.size() << ", B assigned " << b_assigned.size() << ", A holds " << a.assignment().size()
                    << ", B holds " << b.assignment().size());
  // Incremental: A gave up only what B took, and never had everything revoked.
  CHECK(a_revoked.size() == b_assigned.size());
  CHECK(a_revoked.size() < 6);
  CHECK(a.assignment().size() == 6 - a_revoked.size());
  CHECK(a.rebalance_protocol() == "COOPERATIVE");
}

TEST_CASE("The listener's start offsets are where reading starts - its error comes out of poll() - once") {
  DevBroker broker({1, 0, 1}, {"t.listener"});
  MetricsRegistry metrics;
  {
    kafka::KafkaProducer p(props_for(broker), metrics);
    for (int i = 0; i < 10; ++i) produce(p, "t.listener", "k", std::to_string(i));
  }
  kafka::KafkaConsumer c(props_for(broker), "g.listener");
  c.subscribe({"t.listener"}, {[](const auto&) { return kafka::OffsetMap{{{"t.listener", 0}, 7}}; }, {}});
  const auto records = consume(c, 3, 30s);
  REQUIRE(records.size() == 3);
  CHECK(records.front().value == "7");
  c.close();

  kafka::KafkaConsumer failing(props_for(broker), "g.listener-throws");
  bool revoked = false;
  failing.subscribe({"t.listener"},
                    {[](const auto&) -> kafka::OffsetMap { throw std::runtime_error("restore failed"); },
                     [&](const auto&, bool) { revoked = true; }});
  bool thrown = false;
  REQUIRE(eventually(
      [&] {
        try {
          failing.poll(50ms);
        } catch (const std::runtime_error& e) {
          thrown = std::string(e.what()) == "restore failed";
        }
        return thrown;
      },
      30s, 0ms));
  CHECK(failing.assignment().size() == 1);  // librdkafka's assignment follows the group's anyway
  CHECK_NOTHROW(failing.poll(50ms));        // rethrown once
  failing.close();
  CHECK(revoked);  // close() still runs the revocation
}

TEST_CASE("A consumer that drains a full prefetch queue does not idle for librdkafka's fetch back-off") {
  if (kafka::librdkafka_version() >= 0x020200ff) {
    WARN("librdkafka >= 2.2 has fetch.queue.backoff.ms: the workaround is off");
    return;
  }
  DevBroker broker({1, 0, 4}, {"t.prefetch"});
  MetricsRegistry metrics;
  constexpr std::size_t kMessages = 40'000;
  {
    kafka::KafkaProducer p(props_for(broker), metrics);
    for (std::size_t i = 0; i < kMessages; ++i) produce(p, "t.prefetch", std::to_string(i % 97), std::to_string(i));
    REQUIRE_NOTHROW(p.flush(60s));
  }
  // Seconds to read all but the first record (joining the group takes the mock's 3 s rebalance
  // delay, so the clock starts after the first one).
  const auto read_seconds = [&](const char* queued_min, const std::string& group) {
    auto props = props_for(broker);
    props.set("queued.min.messages", queued_min).set("max.partition.fetch.bytes", "4096");
    kafka::KafkaConsumer c(props, group, {"t.prefetch"});
    REQUIRE(consume(c, 1, 60s).size() == 1);
    const auto started = std::chrono::steady_clock::now();
    const auto rest = consume(c, kMessages - 1, 60s);
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    REQUIRE(rest.size() == kMessages - 1);
    return seconds;
  };
  // The baseline, same run: a queue that never fills, so librdkafka never backs off.
  const double never_full = read_seconds("100000", "g.prefetch.baseline");
  const double often_full = read_seconds("1000", "g.prefetch");
  INFO("read " << kMessages << " in " << often_full << " s with a queue that fills, " << never_full
               << " s with one that never does");
  // What a reader sees: without the wake-ups every full queue costs a stall of up to a second.
  // Measured without them: 4-5 s in RelWithDebInfo, 20 s under ASan; with them as fast as the
  // baseline (0.03 s and 0.33 s). The second of slack absorbs a loaded machine.
  CHECK(often_full < 2 * never_full + 1.0);
}
