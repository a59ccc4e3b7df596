// dev-broker: an embedded Kafka-protocol broker for one-machine runs (no Docker).
#include "service.hpp"

int main(int argc, char** argv) {
  return cryptoflow::run_service(argc, argv, cryptoflow::dev_broker_service());
}
