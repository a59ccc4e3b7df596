#pragma once
// A fake Binance for the tests: a real WebSocket server (Boost.Beast; plain ws, or TLS with a
// certificate made at start that the test trusts through SSL_CERT_FILE) on loopback, plus the
// REST endpoints the producer backfills from (/api/v3/historicalTrades, /api/v3/aggTrades).
//
// The exchange has its own timeline, from the first WebSocket session on: frame i is emitted at
// start + i / frames_per_second,
// whether or not anybody is connected. A connection receives the frames emitted while it is
// open, so a dropped connection misses some (the producer must backfill them over REST).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cryptoflow/messages/messages.hpp"
#include "test_support.hpp"

namespace cryptoflow::test {

struct FakeExchangeOptions {
  bool tls = false;
  // Text frames in order. A frame starting with kBinaryMarker is sent as a binary message
  // (without the marker).
  std::vector<std::string> frames;
  int frames_per_second = 2000;
  // The timeline stops before this frame until release() (a benchmark's phases).
  std::size_t hold_at = std::numeric_limits<std::size_t>::max();
  int refuse_first = 0;                   // close the first N TCP connections at once
  std::optional<std::size_t> drop_after;  // the first WebSocket connection dies after this many frames
  std::chrono::milliseconds ping_every{0};
  std::vector<Trade> rest_trades;  // what the REST API knows (all trades, id order)
  bool rest_agg = false;
  // The first rest_failures REST calls (all of them if < 0) are answered with rest_status (if not
  // 200), no body, and rest_retry_after as Retry-After if set.
  int rest_status = 200;
  int rest_failures = -1;
  std::string rest_retry_after;
  // The REST paths served: <rest_api>/aggTrades, /historicalTrades, /depth (USD-M futures: "/fapi/v1").
  std::string rest_api = "/api/v3";
  // GET <rest_api>/depth?symbol=: the answer's body for a symbol, given how many frames the timeline
  // has emitted so far (a snapshot "now"); none: 404.
  std::function<std::string(const std::string& symbol, std::size_t emitted)> depth;
};

inline constexpr const char* kBinaryMarker = "\x01binary:";

class FakeExchange {
 public:
  explicit FakeExchange(FakeExchangeOptions options);
  ~FakeExchange();
  FakeExchange(const FakeExchange&) = delete;
  FakeExchange& operator=(const FakeExchange&) = delete;

  // ws://127.0.0.1:<port> or wss://localhost:<port> (the certificate names localhost).
  [[nodiscard]] std::string ws_url() const;
  [[nodiscard]] std::string rest_url() const { return rest_->url(); }
  [[nodiscard]] std::string ca_file() const { return cert_path_; }

  // Goes on from where the timeline is, at frames_per_second, up to frame `until`.
  void release(std::size_t until, double frames_per_second);
  // When the frame timeline ends (all frames emitted).
  [[nodiscard]] bool finished() const;
  [[nodiscard]] std::vector<std::chrono::steady_clock::time_point> tcp_accepts() const;
  [[nodiscard]] int websocket_sessions() const { return sessions_.load(); }
  [[nodiscard]] std::vector<std::string> targets() const;  // request targets of the handshakes
  [[nodiscard]] std::vector<std::string> pings_sent() const;
  [[nodiscard]] std::vector<std::string> pongs_received() const;
  [[nodiscard]] std::vector<HttpRequest> rest_requests() const { return rest_->requests(); }

 private:
  struct Impl;
  friend struct Impl;
  FakeExchangeOptions options_;
  TempDir dir_;
  std::string cert_path_, key_path_;
  std::unique_ptr<HttpStandIn> rest_;
  std::unique_ptr<Impl> impl_;
  std::atomic<int> sessions_{0};
  std::atomic<int> rest_calls_{0};
  mutable std::mutex mu_;
  std::vector<std::chrono::steady_clock::time_point> accepts_;
  std::vector<std::string> targets_, pings_, pongs_;
};

}  // namespace cryptoflow::test
