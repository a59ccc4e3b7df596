#pragma once
// Event-time windows over trades: exact OHLCV candles for every configured interval and a
// sliding simple moving average of the trade price.
//
// Watermark: each input partition's watermark is the largest trade time it has seen minus the
// allowed lateness. The engine's watermark is the minimum over partitions that are not idle
// (no input for idle_timeout of wall-clock time, and nothing waiting to be read: mark_waiting);
// when every partition is idle it is the largest partition watermark. It is recomputed on every record, so what is late
// depends on the order of the input, not on timing. It goes back when a partition that is behind the others joins
// (restored after a rebalance, or active again after idling): that partition's windows then close at its own pace;
// windows already emitted stay emitted and are never emitted again.
//
// Candles: a window [start, end) is final once the watermark reaches end. Once a symbol has
// traded, every later window is emitted, like Binance's klines: a window without trades has
// open = high = low = close = the previous close, volume 0, trades 0.
// Moving average: windows of ma_window ending at every multiple of ma_slide; value = mean trade
// price; emitted once the watermark reaches the end, only when the window has trades.
// A trade is late when a window it belongs to is already behind the watermark (or emitted): it
// changes nothing and the caller routes it to the late-trades topic.
//
// State is per input partition (the symbols it carries), so it can be saved, restored and moved
// with the partition, and per symbol, so that what is saved at each commit grows with what
// changed: take_changed_symbols(p), snapshot_symbol(symbol), restore_partition(p, ...) +
// restore_symbol(p, bytes). Only trades change what must be saved of a symbol: what closing
// windows did (emitted, erased, the last close, empty candles, averages) follows from the
// partition's empty_through (the highest watermark at which windows were closed), saved with
// the partition, and restore_symbol applies it.
// snapshot(p) / restore(p, bytes) do the whole partition at once.
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cryptoflow/messages/messages.hpp"
#include "flat_map.hpp"
#include "id_set.hpp"

namespace cryptoflow::processor {

struct Interval {
  std::string name;  // "1m"
  std::int64_t ms = 0;
};

// Why ms cannot be a candle interval (empty if it can): windows are whole seconds and tile a day
// (a divisor of a day, or a whole number of days), so every window starts at the same instants
// in every run and on every instance.
std::string interval_error(std::int64_t ms);

struct MovingAverage {
  std::string name = "30s";  // the window as configured, the indicator's `window` field
  std::int64_t window_ms = 30'000;
  std::int64_t slide_ms = 10'000;
};

struct EngineOptions {
  std::vector<Interval> intervals;
  std::int64_t allowed_lateness_ms = 60'000;
  std::int64_t idle_timeout_ms = 10'000;
  int vwap_scale = 12;                 // fractional digits of the VWAP and the average
  std::optional<MovingAverage> sma{};  // none: no indicators
  bool empty_candles = true;           // emit windows without trades (Binance kline style)
};

struct AddResult {
  bool late = false;       // late for at least one window
  bool duplicate = false;  // its id was seen already: it changed nothing
};

// An output and the input partition whose state produced it.
template <class T>
struct FromPartition {
  std::int32_t partition = 0;
  T value;
};

class SnapshotError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CandleEngine {
 public:
  static constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();

  // Throws std::invalid_argument for options that break the rules above (intervals that do not
  // tile a day or repeat, a slide that does not divide its window).
  explicit CandleEngine(EngineOptions options);

  // Adds a trade read from `partition`; now_ms is wall-clock time (idleness). A trade whose id
  // the symbol has seen (IdSet) is a duplicate: a second producer, a resend or an overlapping
  // backfill. It changes nothing.
  AddResult add(std::int32_t partition, const Trade& trade, std::int64_t now_ms);

  // Recomputes the watermark at now_ms and appends every window it closes (final = true), in
  // (end, symbol, interval) order, and every moving average it completes.
  void close_windows(std::int64_t now_ms, std::vector<FromPartition<Candle>>& candles,
                     std::vector<FromPartition<Indicator>>& indicators);
  // Appends the open windows changed since the last call (final = false).
  void take_updates(std::vector<FromPartition<Candle>>& out);

  // The partition has records waiting to be read (lag): it is not idle, whatever the wall clock
  // says, and keeps holding the watermark back until they are read.
  void mark_waiting(std::int32_t partition, std::int64_t now_ms);

  [[nodiscard]] std::int64_t watermark() const { return watermark_; }
  [[nodiscard]] std::optional<std::int64_t> partition_watermark(std::int32_t partition) const;
  [[nodiscard]] std::size_t open_windows() const;

  // Partitions whose state changed since the last call (cleared by the call).
  std::vector<std::int32_t> take_changed_partitions();

  // --- per symbol ---
  // Symbols of the partition whose saved state changed since the last call (cleared by it).
  std::vector<std::string> take_changed_symbols(std::int32_t partition);
  [[nodiscard]] std::vector<std::string> symbols(std::int32_t partition) const;
  // One symbol's state (its windows of every interval, its moving-average panes), as bytes.
  [[nodiscard]] std::string snapshot_symbol(const std::string& symbol) const;
  // The partition-wide part: its largest trade time and its empty_through.
  struct PartitionMeta {
    std::int64_t max_trade_time = kNone;
    std::int64_t empty_through = kNone;
    friend bool operator==(const PartitionMeta&, const PartitionMeta&) = default;
  };
  [[nodiscard]] PartitionMeta partition_meta(std::int32_t partition) const;
  // Replaces the partition with an empty one with this meta (active at now_ms); then
  // restore_symbol() puts its symbols back. Throws SnapshotError for bytes that are not a
  // symbol snapshot (the partition keeps what was restored before).
  void restore_partition(std::int32_t partition, const PartitionMeta& meta, std::int64_t now_ms);
  void restore_symbol(std::int32_t partition, std::string_view bytes);
  // Drops the partition's symbols that have no open window and have not traded for quiet_ms
  // (of event time, before the partition's largest trade time); returns them. An evicted symbol
  // gets no more empty candles; if it trades again it starts afresh.
  std::vector<std::string> evict_quiet(std::int32_t partition, std::int64_t quiet_ms);
  // The most bytes one symbol's snapshot can take with these options: its windows open at once
  // (lateness and clock skew decide how many) and its panes.
  static std::size_t max_symbol_snapshot_bytes(const EngineOptions& options, std::int64_t max_clock_skew_ms);
  // The whole state of one partition, as bytes (a versioned binary format).
  [[nodiscard]] std::string snapshot(std::int32_t partition) const;
  // Replaces the partition's state with a snapshot; the partition counts as active at now_ms.
  // Throws SnapshotError (and changes nothing) if the bytes are not a valid snapshot.
  void restore(std::int32_t partition, std::string_view bytes, std::int64_t now_ms);
  // Forgets a partition's state (after it is revoked).
  void drop_partition(std::int32_t partition);

 private:
  struct Acc {
    Decimal open, high, low, close, volume, quote_volume, taker_buy_volume, taker_buy_quote_volume;
    std::int64_t open_time = 0, open_id = 0, close_time = 0, close_id = 0;
    std::int64_t trades = 0;
    bool dirty = false;
  };
  struct Series {  // one symbol and interval
    std::string source, symbol;
    std::size_t interval = 0;
    std::int32_t partition = 0;
    FlatMap<std::int64_t, Acc> windows;  // by start
    std::int64_t closed_until = kNone;   // end of the last final window emitted
    std::optional<Decimal> last_close;
    std::int64_t last_trade_time = kNone;  // of a trade that counted (not late)
    bool state_changed = false;            // since the last take_changed_symbols
    bool updated = false;                  // a window changed since the last take_updates (in updated_)
  };
  struct Pane {
    Decimal sum;
    std::int64_t count = 0;
  };
  struct Average {  // one symbol's moving-average panes (slide-sized)
    std::string source, symbol;
    std::int32_t partition = 0;
    FlatMap<std::int64_t, Pane> panes;   // by start
    std::int64_t emitted_until = kNone;  // end of the last window considered
    bool state_changed = false;
  };
  struct PartitionState {
    std::int64_t max_trade_time = kNone;
    std::int64_t empty_through = kNone;  // the highest watermark windows were closed at
    std::int64_t last_input_ms = 0;      // the last trade, or the last time records were waiting
    bool waiting_before_input = false;   // records waiting before its first trade: holds everything
  };
  struct Seen {  // one symbol's trade ids
    std::int32_t partition = 0;
    IdSet ids;
    bool state_changed = false;
  };
  Series& series(const Trade& t, std::size_t interval, std::int32_t partition);
  static std::string series_key(const std::string& symbol, std::size_t interval);
  Candle make_candle(const Series& s, std::int64_t start, const Acc& a, bool final) const;
  Candle empty_candle(const Series& s, std::int64_t start) const;
  void update_watermark(std::int64_t now_ms);
  void close_series(Series& s, std::vector<FromPartition<Candle>>& out);
  void close_average(Average& a, std::vector<FromPartition<Indicator>>& out);

  EngineOptions options_;
  std::unordered_map<std::string, Series> series_;     // key: symbol + '\0' + interval index
  std::unordered_map<std::string, Average> averages_;  // key: symbol
  std::unordered_map<std::string, Seen> seen_;         // key: symbol
  // The hot path's shortcut: per symbol, its series (by interval) and average, found with one
  // lookup per trade instead of one per interval. The maps' nodes do not move; cleared whenever
  // entries are erased or replaced (drop_partition, restore).
  struct Slot {
    std::vector<Series*> series;
    Average* average = nullptr;
    Seen* seen = nullptr;
  };
  std::unordered_map<std::string, Slot> slots_;
  // Closing walks these instead of the maps: the series in (symbol, interval name) order and the
  // averages in symbol order, so what closes comes out in the documented order with at most a
  // stable sort by end (none when everything ends at once). Series and averages added since the
  // last close wait in the *_new_ lists and are merged in (5,000 symbols arriving one commit
  // after another must not re-sort them all at each close); removals rebuild the order.
  // next_due_ (per interval) and next_average_due_ bound the earliest window end not yet closed
  // from below (kNone: unknown); an interval whose bound is beyond the watermark has nothing to
  // close and is not walked.
  std::vector<Series*> series_order_, series_new_;
  std::vector<Average*> average_order_, average_new_;
  bool order_stale_ = true;
  std::vector<std::int64_t> next_due_;
  std::int64_t next_average_due_ = kNone;
  // The series with a window changed since the last take_updates: what it walks, instead of
  // every series (it runs at every emit). Rebuilt from the flags after series were erased.
  std::vector<Series*> updated_;
  bool updated_stale_ = false;
  void forget_lookups();  // after series, averages or trade-id sets were erased or replaced
  void update_order();
  std::map<std::int32_t, PartitionState> partitions_;
  std::set<std::int32_t> changed_;
  // Symbols whose series or average got state_changed since the last take_changed_symbols.
  std::map<std::int32_t, std::set<std::string>> changed_symbols_;
  void mark_changed(bool& flag, std::int32_t partition, const std::string& symbol) {
    if (flag) return;
    flag = true;
    changed_symbols_[partition].insert(symbol);
  }
  std::int64_t watermark_ = kNone;
  std::string key_;  // scratch
};

}  // namespace cryptoflow::processor
