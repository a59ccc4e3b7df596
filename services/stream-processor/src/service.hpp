#pragma once
// stream-processor as a binary: its variables (--help), how they become options, and run().
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/service_host.hpp"
#include "processor.hpp"

namespace cryptoflow::processor {

struct Options {
  ProcessorOptions processor;
  kafka::Properties kafka;
};

ServiceInfo service_info();
// Throws ConfigError naming the variable.
Options parse(const Config& config);
// Creates the topics and Kafka clients, processes until a stop is requested, drains.
int run(const Options& options, ServiceHost& host);

inline Service<Options> service() {
  return {service_info(), &parse, &run};
}

}  // namespace cryptoflow::processor
