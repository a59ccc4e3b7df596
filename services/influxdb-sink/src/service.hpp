#pragma once
// influxdb-sink as a binary: its variables (--help), how they become options, and run().
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/runtime/service_host.hpp"
#include "cryptoflow/sink/batch_sink.hpp"
#include "influx_destination.hpp"
#include "influx_writer.hpp"

namespace cryptoflow::influx {

struct Options {
  InfluxOptions influx;
  HttpOptions http;
  sink::SinkOptions sink;
  TopicNames topics;
  kafka::Properties kafka;
};

ServiceInfo service_info();
Options parse(const Config& config);
int run(const Options& options, ServiceHost& host);

inline Service<Options> service() {
  return {service_info(), &parse, &run};
}

}  // namespace cryptoflow::influx
