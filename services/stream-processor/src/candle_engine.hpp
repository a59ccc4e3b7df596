#pragma once
// Event-time tumbling windows over trades: exact OHLCV candles for every configured interval.
//
// Watermark: each input partition's watermark is the largest trade time it has seen minus the
// allowed lateness. The engine's watermark is the minimum over partitions that are not idle
// (no input for idle_timeout of wall-clock time); when every partition is idle it is the
// largest partition watermark. A window [start, end) is final once the watermark reaches end.
// A trade whose window (for some interval) is already final is late for that interval: it does
// not change that candle, and the caller routes it to the late-trades topic.
//
// At-least-once without a state store: for each partition the engine reports the smallest
// input offset still needed by an open window (resume_offset); committing no further than that
// lets a restarted processor rebuild every open window from Kafka.
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cryptoflow/messages.hpp"

namespace cryptoflow::processor {

struct Interval {
  std::string name;  // "1m"
  std::int64_t ms = 0;
};

// Parses CANDLE_INTERVALS ("1m,5m,15m,1h"); throws ConfigError naming the variable.
std::vector<Interval> parse_intervals(const std::vector<std::string>& names);

struct EngineOptions {
  std::vector<Interval> intervals;
  std::int64_t allowed_lateness_ms = 60'000;
  std::int64_t idle_timeout_ms = 10'000;
  int vwap_scale = 12;  // fractional digits of the VWAP
};

struct AddResult {
  bool late = false;  // late for at least one interval
};

class CandleEngine {
 public:
  explicit CandleEngine(EngineOptions options);

  // Adds a trade read from `partition` at `offset`; now_ms is wall-clock time (idleness).
  AddResult add(std::int32_t partition, std::int64_t offset, const Trade& trade, std::int64_t now_ms);

  // Recomputes the watermark at now_ms and appends every window it closes (final = true) in
  // (end, symbol, interval) order, then removes those windows.
  void close_windows(std::int64_t now_ms, std::vector<Candle>& out);
  // Appends the open windows changed since the last call (final = false).
  void take_updates(std::vector<Candle>& out);

  [[nodiscard]] std::int64_t watermark() const { return watermark_; }
  [[nodiscard]] std::optional<std::int64_t> partition_watermark(std::int32_t partition) const;
  // Smallest offset an open window of `partition` still needs, if any.
  [[nodiscard]] std::optional<std::int64_t> resume_offset(std::int32_t partition) const;
  // Forgets a partition's windows (after it is revoked: the new owner rebuilds them).
  void drop_partition(std::int32_t partition);
  [[nodiscard]] std::size_t open_windows() const;

 private:
  struct Acc {
    Decimal open, high, low, close, volume, quote_volume, taker_buy_volume;
    std::int64_t open_time = 0, open_id = 0, close_time = 0, close_id = 0;
    std::int64_t trades = 0;
    std::int64_t first_offset = std::numeric_limits<std::int64_t>::max();
    bool dirty = false;
  };
  struct Series {  // one symbol and interval
    std::string source, symbol;
    std::size_t interval = 0;
    std::int32_t partition = 0;
    std::map<std::int64_t, Acc> windows;  // by start
  };
  struct PartitionState {
    std::int64_t max_trade_time = std::numeric_limits<std::int64_t>::min();
    std::int64_t last_input_ms = 0;
  };
  Candle make_candle(const Series& s, std::int64_t start, const Acc& a, bool final) const;
  void update_watermark(std::int64_t now_ms);

  EngineOptions options_;
  std::unordered_map<std::string, Series> series_;  // key: symbol + '\0' + interval index
  std::map<std::int32_t, PartitionState> partitions_;
  std::int64_t watermark_ = std::numeric_limits<std::int64_t>::min();
};

}  // namespace cryptoflow::processor
