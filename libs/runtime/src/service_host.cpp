#include "cryptoflow/runtime/service_host.hpp"

#include <algorithm>
#include <iostream>
#include <thread>

#include "cryptoflow/runtime/log.hpp"
#include "cryptoflow/runtime/version.hpp"

namespace cryptoflow {

ServiceHost::ServiceHost(const Config& config, std::unique_ptr<TopicCreator> topics)
    : config_(config), topics_(std::move(topics)) {
  set_process_metrics(&metrics_);
  const auto port = config.declares("ADMIN_PORT") ? config.integer("ADMIN_PORT", 0, 65535) : 0;
  if (port != 0)
    admin_ = std::make_unique<AdminServer>(static_cast<int>(port), metrics_, [this] { return readiness_.ready(); });
}

ServiceHost::~ServiceHost() {
  admin_.reset();  // before metrics_ and readiness_, which it reads
  if (process_metrics() == &metrics_) set_process_metrics(nullptr);
}

int ServiceHost::admin_port() const {
  return admin_ ? admin_->port() : 0;
}

bool ServiceHost::stop_requested() const {
  return stop_.load() || ShutdownSignal::requested();
}

void ServiceHost::request_stop() {
  stop_ = true;
}

bool ServiceHost::sleep_for(std::chrono::milliseconds d) const {
  const auto until = std::chrono::steady_clock::now() + d;
  while (!stop_requested()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return true;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(50)));
  }
  return false;
}

void ServiceHost::ensure_topics(const std::vector<TopicRequest>& topics) {
  if (!topics_ || topics.empty() || !config_.declares("TOPIC_PARTITIONS")) return;
  topics_->ensure(topics, static_cast<int>(config_.integer("TOPIC_PARTITIONS", 1, 10000)),
                  static_cast<int>(config_.integer("TOPIC_REPLICATION_FACTOR", 1, 16)), stop_token());
}

namespace detail {

int run_hosted(int argc, char** argv, const ServiceInfo& info, const TopicCreatorFactory& topics,
               const std::function<std::function<int(ServiceHost&)>(const Config&)>& parse) {
  // First of all: a SIGTERM that arrives while the configuration is read or the clients are
  // created is a stop request (exit 0 after the drain), not the default action's exit 143.
  ShutdownSignal::install();
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << Config(info.vars, {}).help(info.program, info.summary);
      return 0;
    }
    if (a == "--version") {
      std::cout << info.program << " " << kVersion << "\n";
      return 0;
    }
    args.push_back(a);
  }
  const Config config(info.vars, Config::process_env(), args);
  try {
    configure_logging(info.program, config.choice("LOG_LEVEL", {"trace", "debug", "info", "warn", "error"}),
                      config.choice("LOG_FORMAT", {"json", "text"}));
    if (!info.takes_arguments && !args.empty()) throw ConfigError("unknown argument " + args.front() + " (see --help)");
    // Fail fast on the common numbers before anything connects anywhere.
    if (config.declares("ADMIN_PORT")) (void)config.integer("ADMIN_PORT", 0, 65535);
    if (config.declares("TOPIC_PARTITIONS")) (void)config.integer("TOPIC_PARTITIONS", 1, 10000);
    if (config.declares("TOPIC_REPLICATION_FACTOR")) (void)config.integer("TOPIC_REPLICATION_FACTOR", 1, 16);
    const auto run = parse(config);
    ServiceHost host(config, topics ? topics(config) : nullptr);
    const int code = run(host);
    log_info("stopped", {{"exit_code", code}});
    return code;
  } catch (const ConfigError& e) {
    std::cerr << info.program << ": configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    log_error("fatal error", {{"error", e.what()}});
    return 1;
  }
}

}  // namespace detail
}  // namespace cryptoflow
