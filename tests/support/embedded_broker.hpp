#pragma once
// Client properties for tests against an in-process DevBroker (librdkafka's mock cluster).
#include "cryptoflow/kafka.hpp"
#include "dev_broker.hpp"

namespace cryptoflow::test {

inline kafka::Properties props_for(const DevBroker& b) {
  kafka::Properties p;
  // The mock broker completes a rebalance only when a silent member's session expires: keep
  // sessions short in tests (production keeps librdkafka's default).
  p.set("bootstrap.servers", b.bootstrap_servers())
      .set("fetch.wait.max.ms", "5")
      .set("session.timeout.ms", "6000")
      .set("heartbeat.interval.ms", "500");
  return p;
}

}  // namespace cryptoflow::test
