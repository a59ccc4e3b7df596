// Offsets a consumer skips because retention removed them first: the embedded broker keeps about
// 5 MB per partition, so 8 MB written while a consumer is away (or paused) moves the log start
// past where it was to go on. librdkafka's auto.offset.reset then jumps to the log start by
// itself; the consumer and the reader must say so (an error log, and a count per partition).
#include <catch2/catch.hpp>
#include <random>

#include "cryptoflow/kafka/consumer.hpp"
#include "cryptoflow/kafka/producer.hpp"
#include "cryptoflow/kafka/reader.hpp"
#include "embedded_broker.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

// Counted in the registry a service's host would set.
struct ProcessMetrics {
  MetricsRegistry registry;
  ProcessMetrics() { set_process_metrics(&registry); }
  ~ProcessMetrics() { set_process_metrics(nullptr); }
  ProcessMetrics(const ProcessMetrics&) = delete;
  ProcessMetrics& operator=(const ProcessMetrics&) = delete;
  double skipped(const std::string& topic) const {
    return registry.value("cryptoflow_kafka_offsets_skipped_total", {{"topic", topic}, {"partition", "0"}});
  }
};

// 8 MB of 1 KB records that do not compress: more than the broker keeps of one partition.
void flood(const DevBroker& broker, const std::string& topic) {
  MetricsRegistry m;
  kafka::KafkaProducer p(props_for(broker), m);
  std::mt19937_64 random(7);
  std::string value(1024, ' ');
  for (int i = 0; i < 8'000; ++i) {
    for (auto& ch : value) ch = static_cast<char>('!' + random() % 90);
    produce(p, topic, "k", value);
  }
  p.flush(60s);
}

// 100 small records: offsets 0-99.
void hundred(const DevBroker& broker, const std::string& topic) {
  MetricsRegistry m;
  kafka::KafkaProducer p(props_for(broker), m);
  for (int i = 0; i < 100; ++i) produce(p, topic, "k", std::to_string(i));
}

std::int64_t log_start(const DevBroker& broker, const std::string& topic) {
  kafka::KafkaReader r(props_for(broker));
  return r.watermarks({topic, 0}, 10s).low;
}

}  // namespace

TEST_CASE("offsets skipped: a group member whose committed offset retention removed counts what it lost") {
  DevBroker broker({1, 0, 1}, {"t.skip.group"});
  ProcessMetrics process;
  hundred(broker, "t.skip.group");
  {
    kafka::KafkaConsumer c(props_for(broker), "g.skip", {"t.skip.group"});
    const auto records = consume(c, 100);
    REQUIRE(records.size() == 100);
    c.commit({{{"t.skip.group", 0}, 100}});
  }
  flood(broker, "t.skip.group");  // while the group is away
  const auto low = log_start(broker, "t.skip.group");
  REQUIRE(low > 100);
  kafka::KafkaConsumer c(props_for(broker), "g.skip", {"t.skip.group"});
  const auto first = consume(c, 1, 30s);
  REQUIRE(first.size() == 1);
  CHECK(first.front().offset == low);                                        // librdkafka went on from the log start...
  CHECK(process.skipped("t.skip.group") == static_cast<double>(low - 100));  // ...and it is counted
  (void)consume(c, 50, 5s);
  CHECK(process.skipped("t.skip.group") == static_cast<double>(low - 100));  // once
}

TEST_CASE("offsets skipped: a paused partition that retention passes is counted when it resumes") {
  DevBroker broker({1, 0, 1}, {"t.skip.paused"});
  ProcessMetrics process;
  hundred(broker, "t.skip.paused");
  kafka::KafkaConsumer c(props_for(broker), "g.skip.paused", {"t.skip.paused"});
  REQUIRE(consume(c, 100).size() == 100);
  c.pause({{"t.skip.paused", 0}});  // the sink's store is down
  flood(broker, "t.skip.paused");
  const auto low = log_start(broker, "t.skip.paused");
  REQUIRE(low > 100);
  CHECK(process.skipped("t.skip.paused") == 0);
  c.resume({{"t.skip.paused", 0}});
  const auto next = consume(c, 1, 30s);
  REQUIRE(next.size() == 1);
  CHECK(next.front().offset == low);
  CHECK(process.skipped("t.skip.paused") == static_cast<double>(low - 100));
}

TEST_CASE(
    "offsets skipped: a reader assigned at an offset retention removed counts it - a seek in the log is no skip") {
  DevBroker broker({1, 0, 1}, {"t.skip.reader"});
  ProcessMetrics process;
  flood(broker, "t.skip.reader");
  const auto low = log_start(broker, "t.skip.reader");
  REQUIRE(low > 10);
  kafka::KafkaReader reader(props_for(broker));
  reader.assign({{{"t.skip.reader", 0}, 10}});
  std::optional<kafka::Record> r;
  for (int i = 0; i < 300 && !r; ++i) r = reader.poll(100ms);
  REQUIRE(r);
  CHECK(r->offset == low);
  CHECK(process.skipped("t.skip.reader") == static_cast<double>(low - 10));

  // Reading from an offset the log holds (a seek, forward or back) is no skip.
  const auto counted = process.skipped("t.skip.reader");
  for (const auto start : {low + 100, low + 5}) {
    reader.assign({{{"t.skip.reader", 0}, start}});
    std::optional<kafka::Record> m;
    for (int i = 0; i < 300 && !m; ++i) m = reader.poll(100ms);
    REQUIRE(m);
    CHECK(m->offset == start);
  }
  CHECK(process.skipped("t.skip.reader") == counted);
}
