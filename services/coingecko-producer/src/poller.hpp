#pragma once
// Polls /coins/markets for every COINGECKO_VS_CURRENCIES entry — for COINGECKO_IDS in chunks
// of 250, or the top COINGECKO_TOP_N by market cap in pages of up to 250 — and publishes one
// ticker per coin and currency when its last_updated changed since the last publication.
// The schedule stays aligned to the interval: a poll that overruns skips the slots it missed.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "client.hpp"
#include "cryptoflow/messages/messages.hpp"
#include "cryptoflow/runtime/metrics.hpp"

namespace cryptoflow::coingecko {

struct PollerOptions {
  std::vector<std::string> ids;  // empty: top_n by market cap
  int top_n = 50;
  std::vector<std::string> vs_currencies{"usd", "eur"};
  std::int64_t interval_ms = 60'000;
  int unready_after_failures = 3;
};

class Poller {
 public:
  Poller(PollerOptions options, CoinGeckoClient& client, Clock& clock, std::function<void(const Ticker&)> publish,
         MetricsRegistry& metrics);
  // One poll of every currency; true if every request succeeded.
  bool poll_once();
  // Polls on the aligned schedule until stop (the clock's sleep returns false).
  void run();
  [[nodiscard]] bool ready() const { return consecutive_failures_ < options_.unready_after_failures; }
  // The request paths of one currency (for tests and logs).
  [[nodiscard]] std::vector<std::string> request_paths(const std::string& vs) const;

 private:
  PollerOptions options_;
  CoinGeckoClient& client_;
  Clock& clock_;
  std::function<void(const Ticker&)> publish_;
  std::map<std::string, std::int64_t> last_published_;  // key -> last_updated
  int consecutive_failures_ = 0;
  Counter& published_;
  Counter& unchanged_;
  Counter& parse_errors_;
  Counter& overruns_;
  Gauge& last_success_;
  Gauge& failures_;
};

}  // namespace cryptoflow::coingecko
