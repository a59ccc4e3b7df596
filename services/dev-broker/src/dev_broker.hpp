#pragma once
// The embedded Kafka-protocol broker: librdkafka's mock cluster on loopback, with every topic
// of the contract created up front (the mock broker does not implement CreateTopics).
#include <memory>
#include <string>
#include <vector>

#include "cryptoflow/kafka/mock_cluster.hpp"
#include "cryptoflow/runtime/config.hpp"
#include "tcp_forwarder.hpp"

namespace cryptoflow {

struct DevBrokerOptions {
  int brokers = 1;
  int first_port = 0;  // 0: the mock's ephemeral ports
  int partitions = 6;
};

// Parses --brokers N, --port P, --partitions N; throws ConfigError on anything else.
DevBrokerOptions parse_dev_broker_args(const std::vector<std::string>& args);

// Topic names of the contract as configured (*_TOPIC variables), in a fixed order.
std::vector<std::string> contract_topics(const Config& config);

class DevBroker {
 public:
  DevBroker(const DevBrokerOptions& options, const std::vector<std::string>& topics);
  ~DevBroker();
  DevBroker(const DevBroker&) = delete;
  DevBroker& operator=(const DevBroker&) = delete;
  // What clients put in bootstrap.servers.
  [[nodiscard]] const std::string& bootstrap_servers() const { return bootstrap_; }
  // For tests that take a broker away.
  kafka::MockCluster& cluster() { return cluster_; }

 private:
  kafka::MockCluster cluster_;
  std::vector<std::unique_ptr<TcpForwarder>> forwarders_;
  std::string bootstrap_;
};

}  // namespace cryptoflow
