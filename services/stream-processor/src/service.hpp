#pragma once
// stream-processor as a binary: its variables (--help), how they become options, and run().
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/runtime/service_host.hpp"
#include "processor.hpp"

namespace cryptoflow::processor {

struct Options {
  ProcessorOptions processor;
  kafka::Properties kafka;
  // KIP-345 static membership: the consumer's group.instance.id (the transactional id), so that a
  // restarted instance takes its partitions back without a rebalance. Empty: dynamic membership.
  std::string group_instance_id;
};

ServiceInfo service_info();
// exactly_once: the transactional id of the second producer, which pipelines the commits.
std::string pipeline_transactional_id(const std::string& transactional_id);
// Throws ConfigError naming the variable.
Options parse(const Config& config);
// Creates the topics and Kafka clients, processes until a stop is requested, drains.
int run(const Options& options, ServiceHost& host);

inline Service<Options> service() {
  return {service_info(), &parse, &run};
}

}  // namespace cryptoflow::processor
