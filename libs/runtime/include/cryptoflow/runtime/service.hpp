#pragma once
// Process plumbing shared by every service: shutdown signals and the admin HTTP server.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "cryptoflow/runtime/config.hpp"
#include "cryptoflow/runtime/metrics.hpp"

namespace cryptoflow {

// SIGTERM and SIGINT set a flag that the service's loop polls; the loop drains and returns 0.
class ShutdownSignal {
 public:
  static void install();
  static bool requested();
  static void request();  // what the handler does; also for tests
};

// Minimal HTTP/1.1 server on its own thread for /healthz, /readyz and /metrics.
// GET only; one request per connection; Connection: close. Connections are served side by side
// (poll): a slow or silent client is dropped after 2 s and never delays a probe.
class AdminServer {
 public:
  // port 0 binds an ephemeral port (see port()); bind_address "0.0.0.0" for containers.
  AdminServer(int port, MetricsRegistry& metrics, std::function<bool()> ready,
              const std::string& bind_address = "0.0.0.0");
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  [[nodiscard]] int port() const { return port_; }

 private:
  void serve();
  std::string respond(const std::string& request);
  MetricsRegistry& metrics_;
  std::function<bool()> ready_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace cryptoflow
