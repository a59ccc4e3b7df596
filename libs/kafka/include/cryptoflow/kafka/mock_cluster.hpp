#pragma once
// librdkafka's mock cluster: a Kafka-protocol broker in this process, listening on loopback
// (what dev-broker serves, and what integration tests run against). It does not implement
// CreateTopics, so topics are created here; it keeps about 5 MB per partition and does not
// compact.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cryptoflow::kafka {

class MockCluster {
 public:
  explicit MockCluster(int brokers = 1);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // Throws KafkaError if the topic cannot be created.
  void create_topic(const std::string& name, int partitions, int replication_factor);
  // host:port of each broker, comma-separated (what clients put in bootstrap.servers).
  [[nodiscard]] const std::string& bootstrap_servers() const;
  // Takes a broker (1-based id) off the network or puts it back: its connections are closed and
  // new ones refused.
  void set_broker_down(int broker_id, bool down);
  // The next requests of this Kafka API (protocol ApiKey: 26 EndTxn, 0 Produce, ...) fail with
  // these Kafka error codes (90 PRODUCER_FENCED, 47 INVALID_PRODUCER_EPOCH, ...), one each.
  void fail_requests(std::int16_t api_key, const std::vector<std::int16_t>& error_codes);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cryptoflow::kafka
