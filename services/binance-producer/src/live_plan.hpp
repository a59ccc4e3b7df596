#pragma once
// The pure parts of the live mode, tested without a network:
//   stream_urls      BINANCE_SYMBOLS x BINANCE_STREAM -> combined-stream URLs, <= 1024 streams each
//   GapTracker       per-symbol last trade id: in order, duplicate, or a gap to backfill
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cryptoflow/runtime/backoff.hpp"
#include "cryptoflow/runtime/config.hpp"

namespace cryptoflow::binance {

inline constexpr std::size_t kMaxStreamsPerConnection = 1024;

// base "wss://stream.binance.com:9443"; symbols any case; stream "trade" or "aggTrade".
// Throws ConfigError for an empty or malformed symbol.
std::vector<std::string> stream_urls(const std::string& base, const std::vector<std::string>& symbols,
                                     const std::string& stream, std::size_t per_connection = kMaxStreamsPerConnection);

// Several streams a symbol ("trade", "depth@100ms"): every symbol's streams, sorted, <= per_connection a URL.
std::vector<std::string> stream_urls(const std::string& base, const std::vector<std::string>& symbols,
                                     const std::vector<std::string>& streams,
                                     std::size_t per_connection = kMaxStreamsPerConnection);
// The symbols (upper case) whose depth stream a combined-stream URL carries.
std::vector<std::string> depth_symbols(std::string_view url);

// A ws://, wss://, http:// or https:// URL (cryptoflow::parse_url); throws ConfigError naming
// `variable`.
Url parse_ws_or_http_url(const std::string& url, const std::string& variable);

class GapTracker {
 public:
  // An id this far below the last one is not a repeat (repeats come from connection overlaps
  // and are near the last id): the last id was bogus, or the ids started over.
  static constexpr std::int64_t kResyncDistance = 100'000;
  enum class Verdict { first, in_order, duplicate, gap, resync };
  struct Result {
    Verdict verdict = Verdict::first;
    std::int64_t missing_from = 0, missing_to = 0;  // inclusive, for a gap
  };
  // Looks at the id of the next trade of symbol; does not record it.
  [[nodiscard]] Result check(const std::string& symbol, std::int64_t id) const;
  // Records that id was published (ids only move forward).
  void published(const std::string& symbol, std::int64_t id);
  // Starts the symbol over at id (after a resync verdict).
  void reset(const std::string& symbol, std::int64_t id) { last_[symbol] = id; }
  [[nodiscard]] std::optional<std::int64_t> last(const std::string& symbol) const;

 private:
  std::unordered_map<std::string, std::int64_t> last_;
};

}  // namespace cryptoflow::binance
