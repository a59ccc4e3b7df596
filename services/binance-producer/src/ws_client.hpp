#pragma once
// One WebSocket client connection (Boost.Beast, async on the caller's io_context): ws:// or
// wss:// with certificate verification and SNI. Pings from the server are answered by Beast with
// a pong carrying the same payload; the connection pings an idle server itself and gives up
// after idle_timeout without any frame. Messages larger than max_message close it (Beast sends
// close 1009), so a hostile size costs a reconnect, never memory.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "live_plan.hpp"

namespace cryptoflow::binance {

struct WsHandlers {
  std::function<void()> opened;  // handshake done
  std::function<void(std::string_view payload, bool binary)> message;
  std::function<void(std::string_view payload)> ping;     // a server ping (already answered)
  std::function<void(const std::string& reason)> closed;  // exactly once, unless close()d first
};

struct WsOptions {
  std::size_t max_message = std::size_t{64} * 1024;
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds idle_timeout{60};
};

class WsConnection {
 public:
  virtual ~WsConnection() = default;
  // Resolves, connects, handshakes and reads until closed.
  virtual void start() = 0;
  // Closes without calling `closed` (a deliberate close: rotation, shutdown).
  virtual void close() = 0;
};

// The TLS context used for wss://: peer verification on, system trust store (SSL_CERT_FILE and
// SSL_CERT_DIR are honoured, as by OpenSSL itself).
boost::asio::ssl::context make_client_tls_context();

std::shared_ptr<WsConnection> make_ws_connection(boost::asio::io_context& ioc, boost::asio::ssl::context& tls,
                                                 const Url& url, WsOptions options, WsHandlers handlers);

}  // namespace cryptoflow::binance
