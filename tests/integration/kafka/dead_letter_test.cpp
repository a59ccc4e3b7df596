// Dead-letter records through the embedded broker.
#include "cryptoflow/kafka/dead_letter.hpp"

#include <catch2/catch.hpp>

#include "cryptoflow/kafka/consumer.hpp"
#include "cryptoflow/kafka/producer.hpp"
#include "embedded_broker.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

TEST_CASE("Dead-letter records keep key - value and timestamp and name their source") {
  DevBroker broker({1, 0, 1}, {"t.src", "t.dlq"});
  MetricsRegistry metrics;
  kafka::KafkaProducer p(props_for(broker), metrics);
  produce(p, "t.src", "BTCUSDT", "{not json", 12345);
  p.flush(10s);
  kafka::KafkaConsumer c(props_for(broker), "g.dlq", {"t.src"});
  const auto src = consume(c, 1);
  REQUIRE(src.size() == 1);
  const std::vector<kafka::Header> extra{{"cryptoflow.commit", "0/1/1"}};
  kafka::send_to_dead_letter(p, "t.dlq", src[0], "malformed JSON at offset 1", extra);
  p.flush(10s);
  kafka::KafkaConsumer d(props_for(broker), "g.dlq2", {"t.dlq"});
  const auto dl = consume(d, 1);
  REQUIRE(dl.size() == 1);
  CHECK(dl[0].key == "BTCUSDT");
  CHECK(dl[0].value == "{not json");
  CHECK(dl[0].timestamp == 12345);
  CHECK(header_of(dl[0], "error") == "malformed JSON at offset 1");
  CHECK(header_of(dl[0], "source.topic") == "t.src");
  CHECK(header_of(dl[0], "source.partition") == "0");
  CHECK(header_of(dl[0], "source.offset") == "0");
  CHECK(header_of(dl[0], "cryptoflow.commit") == "0/1/1");
}
