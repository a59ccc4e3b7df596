#pragma once
// dev-broker as a binary: its flags and variables (--help), how they become options, and run().
#include <string>
#include <vector>

#include "cryptoflow/runtime/service_host.hpp"
#include "dev_broker.hpp"

namespace cryptoflow {

struct DevBrokerService {
  DevBrokerOptions broker;
  std::vector<std::string> topics;
};

ServiceInfo dev_broker_info();
DevBrokerService parse_dev_broker(const Config& config);
// Prints the bootstrap servers on the first line of stdout and serves until a stop is requested.
int run_dev_broker(const DevBrokerService& options, ServiceHost& host);

inline Service<DevBrokerService> dev_broker_service() {
  return {dev_broker_info(), &parse_dev_broker, &run_dev_broker};
}

}  // namespace cryptoflow
