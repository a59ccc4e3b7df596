#pragma once
// The service host: what every binary needs around its own loop, in one place and in the
// right order.
//
//   main(argc, argv) -> run_service(argc, argv, service, topic_creator)
//     1. SIGTERM / SIGINT handlers                  stop_requested() turns true; never a kill
//     2. --help / --version; the Config from the environment; logging (LOG_LEVEL, LOG_FORMAT)
//     3. service.parse(config) -> Options           a ConfigError here: exit 2, nothing started
//     4. ServiceHost: metrics, readiness, topic creation, the admin server (/healthz answers
//        from now on; /readyz is false until the service registers checks that pass)
//     5. service.run(options, host)                 creates its clients, registers readiness,
//                                                   loops until stop_requested(), drains
//     6. the service's objects go (its readiness registrations first), then the admin server
//   Exit codes: run()'s value (0 after a clean drain); 2 for a ConfigError; 1 for any other
//   exception, logged with its cause.
//
// The admin server reads only what the host owns (metrics, readiness), so no service object is
// read by another thread after it is gone.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cryptoflow/runtime/config.hpp"
#include "cryptoflow/runtime/metrics.hpp"
#include "cryptoflow/runtime/readiness.hpp"
#include "cryptoflow/runtime/service.hpp"

namespace cryptoflow {

struct TopicRequest {
  std::string name;
  std::map<std::string, std::string> config;  // topic-level settings (cleanup.policy=compact)
};

// Creates missing topics; implemented by libs/kafka (kafka::topic_creator). Must not throw for a
// broker that refuses or does not implement topic creation: a warning is enough. Returns early
// once stop() is true (SIGTERM while the cluster is slow to answer).
class TopicCreator {
 public:
  virtual ~TopicCreator() = default;
  virtual void ensure(const std::vector<TopicRequest>& topics, int partitions, int replication_factor,
                      const std::function<bool()>& stop) = 0;
};
using TopicCreatorFactory = std::function<std::unique_ptr<TopicCreator>(const Config&)>;

class ServiceHost {
 public:
  // Starts the admin server on ADMIN_PORT (none when 0).
  ServiceHost(const Config& config, std::unique_ptr<TopicCreator> topics = nullptr);
  ~ServiceHost();
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  [[nodiscard]] const Config& config() const { return config_; }
  MetricsRegistry& metrics() { return metrics_; }
  Readiness& readiness() { return readiness_; }
  // The admin server's port (0 when disabled).
  [[nodiscard]] int admin_port() const;

  // SIGTERM / SIGINT arrived, or request_stop() was called.
  [[nodiscard]] bool stop_requested() const;
  void request_stop();
  // For loops that take a predicate.
  [[nodiscard]] std::function<bool()> stop_token() const {
    return [this] { return stop_requested(); };
  }
  // Sleeps up to d; false if a stop was requested meanwhile (checked every 50 ms).
  bool sleep_for(std::chrono::milliseconds d) const;

  // Creates the topics that are missing (TOPIC_PARTITIONS, TOPIC_REPLICATION_FACTOR). Without a
  // topic creator (a binary that talks to no Kafka) it does nothing.
  void ensure_topics(const std::vector<TopicRequest>& topics);

 private:
  const Config& config_;
  MetricsRegistry metrics_;
  Readiness readiness_;
  std::unique_ptr<TopicCreator> topics_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<AdminServer> admin_;  // last: stopped before anything it reads goes
};

// A binary: what --help says, how its configuration is read, and its loop.
template <class Options>
struct Service {
  ServiceInfo info;
  Options (*parse)(const Config&);
  int (*run)(const Options&, ServiceHost&);
};

namespace detail {
int run_hosted(int argc, char** argv, const ServiceInfo& info, const TopicCreatorFactory& topics,
               const std::function<std::function<int(ServiceHost&)>(const Config&)>& parse);
}

template <class Options>
int run_service(int argc, char** argv, const Service<Options>& service, const TopicCreatorFactory& topics = {}) {
  return detail::run_hosted(argc, argv, service.info, topics, [&](const Config& config) {
    auto options = std::make_shared<const Options>(service.parse(config));
    return std::function<int(ServiceHost&)>(
        [&service, options](ServiceHost& host) { return service.run(*options, host); });
  });
}

}  // namespace cryptoflow
