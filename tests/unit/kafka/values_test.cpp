// libs/kafka's values without a broker: records and their headers, dead-letter headers,
// properties from the environment.
#include <catch2/catch.hpp>

#include "cryptoflow/kafka/dead_letter.hpp"
#include "cryptoflow/kafka/error.hpp"
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/kafka/record.hpp"

using namespace cryptoflow;

TEST_CASE("A record's header: the last one of a name - none when absent") {
  kafka::Record r{"t", 2, 17, 1000, "k", "v", {{"a", "1"}, {"b", "2"}, {"a", "3"}}};
  CHECK(r.header("a") == "3");
  CHECK(r.header("b") == "2");
  CHECK_FALSE(r.header("c").has_value());
  CHECK(r.topic_partition() == kafka::TopicPartition{"t", 2});
}

TEST_CASE("Dead-letter headers name the error and where the record came from") {
  const kafka::Record r{"crypto.trades", 4, 99, 0, "BTCUSDT", "{", {}};
  const auto h = kafka::dead_letter_headers(r, "malformed JSON");
  CHECK(h == std::vector<kafka::Header>{{"error", "malformed JSON"},
                                        {"source.topic", "crypto.trades"},
                                        {"source.partition", "4"},
                                        {"source.offset", "99"}});
}

TEST_CASE("KAFKA_* variables pass through to librdkafka - a bad one names the variable") {
  Config config(common_vars(), {{"KAFKA_BOOTSTRAP_SERVERS", "h:1"},
                                {"KAFKA_SECURITY_PROTOCOL", "SASL_SSL"},
                                {"KAFKA_SASL_MECHANISMS", "PLAIN"},
                                {"NOT_KAFKA", "x"}});
  const auto p = kafka::Properties::from_config(config);
  CHECK(p.get("bootstrap.servers") == "h:1");
  CHECK(p.get("security.protocol") == "SASL_SSL");
  CHECK(p.get("sasl.mechanisms") == "PLAIN");
  CHECK(p.items().size() == 3);
  CHECK(kafka::env_name_for("security.protocol") == "KAFKA_SECURITY_PROTOCOL");
  kafka::Properties bad;
  bad.set("linger.ms", "soon");
  try {
    bad.validate();
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("KAFKA_LINGER_MS") == 0);
  }
}

TEST_CASE("Kubernetes service-link variables are not librdkafka properties - an empty broker list is refused") {
  // What a Service named kafka (port 9092) and one named kafka-ui (port name http) inject.
  Config config(common_vars(), {{"KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"},
                                {"KAFKA_SERVICE_HOST", "10.96.0.12"},
                                {"KAFKA_SERVICE_PORT", "9092"},
                                {"KAFKA_PORT", "tcp://10.96.0.12:9092"},
                                {"KAFKA_PORT_9092_TCP", "tcp://10.96.0.12:9092"},
                                {"KAFKA_PORT_9092_TCP_PROTO", "tcp"},
                                {"KAFKA_PORT_9092_TCP_PORT", "9092"},
                                {"KAFKA_PORT_9092_TCP_ADDR", "10.96.0.12"},
                                {"KAFKA_UI_SERVICE_HOST", "fd00::12"},
                                {"KAFKA_UI_SERVICE_PORT_HTTP", "8080"},
                                {"KAFKA_UI_PORT", "tcp://[fd00::12]:8080"},
                                {"KAFKA_CLIENT_ID", "sp-1"}});
  const auto p = kafka::Properties::from_config(config);
  CHECK(p.items() ==
        std::vector<std::pair<std::string, std::string>>{{"bootstrap.servers", "kafka:9092"}, {"client.id", "sp-1"}});
  // The name alone does not decide: a value that is no address is still a property, and refused.
  CHECK_FALSE(kafka::is_service_link("KAFKA_PORT", "many"));
  CHECK_THROWS_AS(kafka::Properties::from_config(Config(common_vars(), {{"KAFKA_PORT", "many"}})), ConfigError);

  for (const auto* servers : {"", " , "}) {
    try {
      (void)kafka::Properties::from_config(Config(common_vars(), {{"KAFKA_BOOTSTRAP_SERVERS", servers}}));
      FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
      CHECK(std::string(e.what()).find("KAFKA_BOOTSTRAP_SERVERS is empty") == 0);
    }
  }
}

TEST_CASE("Errors say what to do") {
  const kafka::KafkaError fenced(kafka::ErrorKind::fatal, "commit: fenced", "PRODUCER_FENCED");
  CHECK(fenced.is_fatal());
  CHECK_FALSE(fenced.requires_abort());
  CHECK(fenced.code() == "PRODUCER_FENCED");
  CHECK(kafka::KafkaError(kafka::ErrorKind::abortable, "x").requires_abort());
  CHECK(kafka::KafkaError(kafka::ErrorKind::timed_out, "x").timed_out());
  CHECK(std::string(kafka::to_string(kafka::ErrorKind::retriable)) == "retriable");
}
