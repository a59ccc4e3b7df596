#pragma once
// The gateway's one port: HTTP/1.1 (the REST APIs and the page), WebSocket (/binance/ws,
// /binance/stream, /v1/ws) and Server-Sent Events (/v1/stream), on Boost.Beast with one I/O
// thread. The feed thread hands changes over with publish(); everything else happens on the
// I/O thread.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "browser.hpp"
#include "cryptoflow/metrics.hpp"
#include "history.hpp"
#include "hub.hpp"
#include "store.hpp"

namespace cryptoflow::gateway {

struct StaticFile {
  std::string content_type;
  std::string body;
};

struct ServerOptions {
  int port = 8000;  // 0: any free port (see Server::port())
  std::string bind_address = "0.0.0.0";
  std::size_t max_connections = 1000;
  std::size_t max_subscriptions = 1024;       // streams per WebSocket connection (Binance's limit)
  std::size_t client_buffer_bytes = 4 << 20;  // a client further behind than this is dropped
  double requests_per_second = 50;            // per client address; 0: no limit
  double request_burst = 200;
  std::string cors_origin = "*";                // Access-Control-Allow-Origin; empty: no CORS headers
  std::chrono::milliseconds heartbeat{15'000};  // SSE comment line while nothing else is sent
  std::size_t events_kept = 100'000;            // for SSE Last-Event-ID
  std::map<std::string, StaticFile> files;      // the page: path ("/", "/app.js") -> file
};

class Server {
 public:
  // browser: answers the topic browser's paths (/v1/topics, /v1/groups); none: they are 404.
  // history: candles older than the store holds (InfluxDB), queried on a worker thread.
  Server(ServerOptions options, const MarketStore& store, MetricsRegistry& metrics,
         std::shared_ptr<TopicBrowser> browser = nullptr, std::unique_ptr<CandleHistory> history = nullptr);
  ~Server();  // stops the browser's worker and the I/O thread; open connections are closed
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  [[nodiscard]] int port() const;
  // From any thread: the event reaches the subscribers on the I/O thread.
  void publish(Event event);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Loads every regular file under dir (the page and its scripts) with a content type by
// extension; throws std::runtime_error if dir has no index.html.
std::map<std::string, StaticFile> load_static_files(const std::string& dir);

}  // namespace cryptoflow::gateway
