#pragma once
// s3-sink as a binary: its variables (--help), how they become options, and run().
#include "archiver.hpp"
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/runtime/service_host.hpp"
#include "s3_client.hpp"

namespace cryptoflow::s3 {

struct Options {
  S3Options s3;
  HttpOptions http;
  ArchiveOptions archive;
  kafka::Properties kafka;
};

ServiceInfo service_info();
Options parse(const Config& config);
int run(const Options& options, ServiceHost& host);

inline Service<Options> service() {
  return {service_info(), &parse, &run};
}

}  // namespace cryptoflow::s3
