#pragma once
// The gateway's one port: HTTP/1.1 (the REST APIs and the page), WebSocket (/binance/ws,
// /binance/stream, /v1/ws) and Server-Sent Events (/v1/stream), on Boost.Beast with one I/O
// thread. The feed thread hands changes over with publish(); everything else happens on the
// I/O thread. This file accepts connections and fans the feed's events out; the sessions are
// http_session.cpp, sse_session.cpp and ws_session.cpp (session.hpp), the paths routes.cpp.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "books.hpp"
#include "browser.hpp"
#include "cryptoflow/runtime/metrics.hpp"
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
  std::size_t max_connections = 1000;  // lowered at start below what the process's file limit allows
  std::size_t max_connections_per_address = 100;
  // Peers whose X-Forwarded-For names the client (a reverse proxy in front of the gateway):
  // their own connections are not capped per address; their clients' streams and requests are.
  std::vector<std::string> trusted_proxies;
  std::size_t reserved_files = 64;                   // file descriptors kept for Kafka, InfluxDB, logs
  std::chrono::milliseconds request_timeout{5'000};  // a request's header and body, from its first byte
  std::chrono::milliseconds idle_timeout{30'000};    // a kept-alive connection between requests
  std::chrono::milliseconds write_timeout{30'000};   // a stream whose write does not finish is closed
  std::chrono::milliseconds stream_timeout{60'000};  // a WebSocket peer that answers no ping is closed
  std::int64_t weight_per_minute = 6000;             // Binance's request weight per address; 0: none
  std::size_t max_subscriptions = 1024;              // streams per WebSocket connection (Binance's limit)
  std::size_t client_buffer_bytes = 4 << 20;         // a client further behind than this is dropped
  double requests_per_second = 50;                   // per client address; 0: no limit
  double request_burst = 200;
  // The clock the per-address limits (requests per second, weight per minute) run on; the I/O
  // thread calls it. Tests move it by hand.
  std::function<std::chrono::steady_clock::time_point()> clock = [] { return std::chrono::steady_clock::now(); };
  std::string cors_origin = "*";                // Access-Control-Allow-Origin; empty: no CORS headers
  std::chrono::milliseconds heartbeat{15'000};  // SSE comment line while nothing else is sent
  std::size_t events_kept = 100'000;            // for SSE Last-Event-ID
  std::size_t events_kept_bytes = 64u << 20;    // their memory at most
  std::map<std::string, StaticFile> files;      // the page: path ("/", "/app.js") -> file
};

class Server {
 public:
  // browser: answers the topic browser's paths (/v1/topics, /v1/groups); none: they are 404.
  // history: candles older than the store holds (InfluxDB), queried on a worker thread.
  Server(ServerOptions options, const MarketStore& store, MetricsRegistry& metrics,
         std::shared_ptr<TopicBrowser> browser = nullptr, std::unique_ptr<CandleHistory> history = nullptr,
         const TradeStore* trades = nullptr, const BookStore* books = nullptr);
  ~Server();  // stops the browser's worker and the I/O thread; open connections are closed
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  [[nodiscard]] int port() const;
  // false while every connection slot is taken or accepting fails (out of file descriptors):
  // the gateway's readiness.
  [[nodiscard]] bool accepting() const;
  // The connection limit in force (GATEWAY_MAX_CONNECTIONS, or lower for the file limit).
  [[nodiscard]] std::size_t max_connections() const;
  // From any thread: the event reaches the subscribers on the I/O thread.
  void publish(Event event);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Raises the soft limit on open files to the hard limit where it can; returns the limit in force.
std::size_t raise_file_limit();

// Loads every regular file under dir (the page and its scripts) with a content type by
// extension; throws std::runtime_error if dir has no index.html.
std::map<std::string, StaticFile> load_static_files(const std::string& dir);

}  // namespace cryptoflow::gateway
