#pragma once
// coingecko-producer as a binary: its variables (--help), how they become options, and run().
#include <string>

#include "client.hpp"
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/runtime/service_host.hpp"
#include "poller.hpp"

namespace cryptoflow::coingecko {

struct Options {
  ClientOptions client;
  PollerOptions poller;
  int calls_per_minute = 30;
  std::string topic;
  kafka::Properties kafka;
};

ServiceInfo service_info();
Options parse(const Config& config);
int run(const Options& options, ServiceHost& host);

inline Service<Options> service() {
  return {service_info(), &parse, &run};
}

}  // namespace cryptoflow::coingecko
