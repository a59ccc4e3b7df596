#pragma once
// gateway as a binary: its variables (--help), how they become options, and run().
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/service_host.hpp"
#include "feed.hpp"
#include "server.hpp"
#include "store.hpp"

namespace cryptoflow::gateway {

struct Options {
  ServerOptions server;
  FeedOptions feed;
  BrowserOptions browser;
  InfluxHistoryOptions history;
  std::string dead_letter_topic;
  StoreLimits limits;
  std::string static_dir;
  kafka::Properties kafka;
};

ServiceInfo service_info();
Options parse(const Config& config);
int run(const Options& options, ServiceHost& host);

inline Service<Options> service() {
  return {service_info(), &parse, &run};
}

}  // namespace cryptoflow::gateway
