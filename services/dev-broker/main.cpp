// dev-broker: an embedded Kafka-protocol broker for one-machine runs (no Docker).
#include <chrono>
#include <iostream>
#include <thread>

#include "cryptoflow/log.hpp"
#include "cryptoflow/service.hpp"
#include "dev_broker.hpp"

int main(int argc, char** argv) {
  using namespace cryptoflow;
  auto vars = common_vars();
  std::erase_if(vars, [](const VarSpec& v) {
    return v.name.rfind("KAFKA_", 0) == 0 || v.name == "ADMIN_PORT" || v.name.rfind("TOPIC_", 0) == 0;
  });
  vars.push_back({"STATE_TOPIC", "crypto.processor-state", "stream-processor's state topic"});
  const ServiceInfo info{
      "dev-broker",
      "Embedded Kafka-protocol broker (librdkafka's mock cluster) on loopback. Prints its bootstrap\n"
      "servers on the first line of stdout and serves until SIGTERM. Creates every topic of the\n"
      "contract (honouring the *_TOPIC variables).\n\n"
      "Flags: --brokers N (default 1), --port P (fixed first port; default ephemeral),\n"
      "       --partitions N (default 6)",
      vars};
  return run_service(argc, argv, info, [](const Config& config, const std::vector<std::string>& args) {
    const auto options = parse_dev_broker_args(args);
    ShutdownSignal::install();
    DevBroker broker(options, contract_topics(config));
    std::cout << broker.bootstrap_servers() << std::endl;
    log_info(
        "dev-broker serving",
        {{"bootstrap", broker.bootstrap_servers()}, {"brokers", options.brokers}, {"partitions", options.partitions}});
    while (!ShutdownSignal::requested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log_info("dev-broker stopping");
    return 0;
  });
}
