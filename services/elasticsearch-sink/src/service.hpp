#pragma once
// elasticsearch-sink as a binary: its variables (--help), how they become options, and run().
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/runtime/service_host.hpp"
#include "cryptoflow/sink/batch_sink.hpp"
#include "es_destination.hpp"

namespace cryptoflow::elastic {

struct Options {
  EsOptions es;
  HttpOptions http;
  sink::SinkOptions sink;
  TopicNames topics;
  kafka::Properties kafka;
};

ServiceInfo service_info();
Options parse(const Config& config);
// Installs the index templates (retrying until Elasticsearch answers), then sinks.
int run(const Options& options, ServiceHost& host);

inline Service<Options> service() {
  return {service_info(), &parse, &run};
}

}  // namespace cryptoflow::elastic
