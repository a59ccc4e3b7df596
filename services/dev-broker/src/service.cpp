#include "service.hpp"

#include <iostream>

#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow {

ServiceInfo dev_broker_info() {
  auto vars = common_vars();
  std::erase_if(vars, [](const VarSpec& v) {
    return v.name.rfind("KAFKA_", 0) == 0 || v.name == "ADMIN_PORT" || v.name.rfind("TOPIC_", 0) == 0;
  });
  vars.push_back({"STATE_TOPIC", "crypto.processor-state", "stream-processor's state topic"});
  return {"dev-broker",
          "Embedded Kafka-protocol broker (librdkafka's mock cluster) on loopback. Prints its bootstrap\n"
          "servers on the first line of stdout and serves until SIGTERM. Creates every topic of the\n"
          "contract (honouring the *_TOPIC variables).\n\n"
          "Flags: --brokers N (default 1), --port P (fixed first port; default ephemeral),\n"
          "       --partitions N (default 6)",
          vars, true};
}

DevBrokerService parse_dev_broker(const Config& config) {
  return {parse_dev_broker_args(config.args()), contract_topics(config)};
}

int run_dev_broker(const DevBrokerService& o, ServiceHost& host) {
  DevBroker broker(o.broker, o.topics);
  std::cout << broker.bootstrap_servers() << std::endl;
  log_info(
      "dev-broker serving",
      {{"bootstrap", broker.bootstrap_servers()}, {"brokers", o.broker.brokers}, {"partitions", o.broker.partitions}});
  while (host.sleep_for(std::chrono::seconds(1))) {
  }
  log_info("dev-broker stopping");
  return 0;
}

}  // namespace cryptoflow
