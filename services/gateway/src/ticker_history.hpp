#pragma once
// A coin's price, market cap and volume over time in one currency, from the tickers the gateway
// reads (crypto.tickers), kept at the granularities CoinGecko's market_chart and ohlc answer
// with: 5-minute buckets for the last two days, hourly for 90 days, daily for a year (each
// bucket: the price's open, high, low and close within it, and the last point's time, market cap
// and volume). The spans count back from the series' newest point, so a replay of old data keeps
// its history. CoinGecko's numbers are floats: so are these (a price read back prints with the
// digits that came in, up to 15 significant ones).
#include <array>
#include <cstdint>
#include <deque>
#include <vector>

#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow::gateway {

enum class Granularity { five_minutes = 0, hourly = 1, daily = 2 };

struct TickerBucket {      // 64 bytes
  std::int64_t start = 0;  // the bucket's start (ms)
  std::int64_t time = 0;   // the last point's time: its last_updated (ms)
  double open = 0, high = 0, low = 0, close = 0;
  double market_cap = 0, volume = 0;  // the last point's; NaN: not known
};

class TickerHistory {
 public:
  static constexpr std::array<std::int64_t, 3> kStep{300'000, 3'600'000, 86'400'000};
  static constexpr std::array<std::int64_t, 3> kSpan{2 * 86'400'000LL, 90 * 86'400'000LL, 365 * 86'400'000LL};
  // The most buckets a series holds (what the memory bound reckons with).
  static constexpr std::size_t kMaxBuckets = 577 + 2161 + 366;

  // Adds a ticker's price (none: nothing to add).
  void add(const Ticker& t);
  // The buckets of a granularity whose start lies in [from, to], ascending.
  [[nodiscard]] std::vector<TickerBucket> buckets(Granularity g, std::int64_t from, std::int64_t to) const;
  [[nodiscard]] std::size_t size() const;

 private:
  std::array<std::deque<TickerBucket>, 3> tiers_;
  std::int64_t newest_ = 0;
};

}  // namespace cryptoflow::gateway
