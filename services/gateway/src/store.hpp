#pragma once
// What the gateway serves, in memory: recent candles per symbol and interval, the latest
// indicator per symbol and window, the latest ticker per coin and currency. Written by the feed
// thread, read by the HTTP thread (one mutex; reads copy out what they answer with).
//
// Bounds: at most `candles_per_series` candles per symbol x interval (the oldest go first) and
// at most `max_series` series; a candle for a new series beyond that is refused and counted.
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cryptoflow/messages/messages.hpp"
#include "ticker_history.hpp"

namespace cryptoflow::gateway {

// Measured (tests/unit/gateway/store_test.cpp, glibc malloc): a held candle with 64-bit values
// takes 112 bytes (its 104-byte record in the deque), a series 400 bytes more; the memory bound's
// arithmetic uses these with room to spare.
inline constexpr std::size_t kBytesPerCandle = 120;
inline constexpr std::size_t kBytesPerSeries = 512;
// A ticker history bucket (64 bytes) in its deque; measured in store_test.cpp.
inline constexpr std::size_t kBytesPerTickerBucket = 72;

struct StoreLimits {
  std::size_t candles_per_series = 1500;  // a day of 1m candles, and Binance's largest page (1000)
  std::size_t max_series = 20000;
  std::size_t max_tickers = 100000;
  // coin x currency series whose history is kept (each up to TickerHistory::kMaxBuckets buckets)
  std::size_t max_ticker_histories = 1000;
};

// Binance's kline intervals in ms ("1M" is 30 days here, only used for ordering); 0 if unknown.
std::int64_t interval_ms(std::string_view interval);

enum class Applied {
  added,      // a window not seen before
  updated,    // a newer state of a window already held
  unchanged,  // a repeat of what is held (a replay of the same record)
  stale,      // older than what is held: a live update after the final, or older than the bound
  refused,    // a new series beyond max_series
};

struct CandleQuery {
  std::string symbol, interval;
  std::optional<std::int64_t> start, end;  // on the window start (ms), both inclusive
  std::size_t limit = 500;
};

// What the page's pipeline panel shows, as the gateway sees it through the topics.
struct PipelineStats {
  double trades_per_second = 0;              // exchange trades entering candles, over the last 10 s
  std::int64_t last_closed_end = 0;          // newest end of a final candle (the watermark, roughly)
  std::optional<std::int64_t> dead_letters;  // records in the dead-letter topic (none: unknown)
  std::uint64_t records = 0;                 // records the gateway read
};

// One symbol x interval's candles, ascending by start, packed: a candle's numbers are kept as
// 64-bit mantissas with their scales (104 bytes), its symbol, interval and source once per series.
// A candle whose values do not fit 64 bits (or whose source or end differ from the series') is
// kept whole beside them: exact either way.
class CandleSeries {
 public:
  CandleSeries(std::string symbol, std::string interval) : symbol_(std::move(symbol)), interval_(std::move(interval)) {}
  [[nodiscard]] std::size_t size() const { return packed_.size(); }
  [[nodiscard]] bool empty() const { return packed_.empty(); }
  // The index of the first candle that starts at or after start.
  [[nodiscard]] std::size_t lower_bound(std::int64_t start) const;
  // The index of the first candle that starts after start.
  [[nodiscard]] std::size_t upper_bound(std::int64_t start) const;
  [[nodiscard]] std::int64_t start_at(std::size_t i) const { return packed_[i].start; }
  [[nodiscard]] Candle at(std::size_t i) const;
  void set(std::size_t i, const Candle& c);
  void insert(std::size_t i, const Candle& c);
  void pop_front();
  // An older candle was dropped (GATEWAY_CANDLES).
  [[nodiscard]] bool trimmed() const { return trimmed_; }

 private:
  struct Packed {  // 104 bytes (static_assert in store.cpp)
    std::int64_t start = 0;
    // open, high, low, close, volume, quote, taker buy, vwap, taker buy quote:
    // value = units x 10^zeros / 10^scale (trailing zeros apart, so that 16-place volumes fit)
    std::int64_t units[9] = {};
    std::int32_t trades = 0;
    std::uint8_t scale[9] = {};
    std::uint8_t zeros[9] = {};
    bool final = false;
    bool whole = false;  // kept in whole_
  };
  [[nodiscard]] Packed pack(const Candle& c);
  std::string symbol_, interval_, source_;
  std::deque<Packed> packed_;
  std::map<std::int64_t, Candle> whole_;  // by start
  bool trimmed_ = false;
};

class MarketStore {
 public:
  explicit MarketStore(StoreLimits limits = {}) : limits_(limits) {}

  Applied apply(const Candle& c);
  Applied apply(const Ticker& t);
  Applied apply(const Indicator& i);

  // Ascending by start. With a start: the first `limit` from it; otherwise the last `limit`
  // up to end (Binance's rule).
  [[nodiscard]] std::vector<Candle> candles(const CandleQuery& q) const;
  // The start of the oldest candle held for the series; nothing when none is.
  [[nodiscard]] std::optional<std::int64_t> first_start(const std::string& symbol, const std::string& interval) const;
  // The start of the series' first candle ever, when the store holds it: the candles topic was
  // read from its first record (set_from_origin) and no candle of the series was dropped since.
  [[nodiscard]] std::optional<std::int64_t> origin(const std::string& symbol, const std::string& interval) const;
  void set_from_origin(bool v);
  [[nodiscard]] std::optional<Candle> last_candle(const std::string& symbol, const std::string& interval) const;
  [[nodiscard]] bool has_symbol(const std::string& symbol) const;
  [[nodiscard]] std::vector<std::string> symbols() const;                             // sorted
  [[nodiscard]] std::vector<std::string> intervals(const std::string& symbol) const;  // shortest first
  // The last candle of the symbol's shortest interval: its close is the last price.
  [[nodiscard]] std::optional<Candle> latest(const std::string& symbol) const;

  [[nodiscard]] std::vector<Indicator> indicators(const std::string& symbol) const;  // empty symbol: all
  [[nodiscard]] std::optional<Ticker> ticker(const std::string& coin, const std::string& vs_currency) const;
  [[nodiscard]] std::vector<Ticker> tickers(const std::string& vs_currency) const;  // empty: all
  // Up to n tickers after (coin, vs_currency) in that order (a page; empty strings: the first).
  [[nodiscard]] std::vector<Ticker> tickers_after(const std::string& coin, const std::string& vs_currency,
                                                  std::size_t n) const;
  // The currencies tickers are held in, sorted.
  [[nodiscard]] std::vector<std::string> vs_currencies() const;
  // A coin's history in a currency: the buckets of a granularity starting in [from, to].
  [[nodiscard]] std::vector<TickerBucket> ticker_history(const std::string& coin, const std::string& vs_currency,
                                                         Granularity g, std::int64_t from, std::int64_t to) const;
  // Tickers whose history was not kept: a new coin x currency past max_ticker_histories.
  [[nodiscard]] std::uint64_t histories_refused() const;
  [[nodiscard]] std::size_t series_count() const;
  [[nodiscard]] std::size_t candle_count() const;
  // Exchange trades counted into each symbol's shortest interval so far (for a rate).
  [[nodiscard]] std::int64_t trades_seen() const;
  [[nodiscard]] PipelineStats pipeline() const;
  void set_pipeline(const PipelineStats& stats);

 private:
  StoreLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, CandleSeries>> candles_;  // symbol -> interval
  std::size_t series_ = 0;
  std::size_t candle_count_ = 0;
  std::map<std::string, std::map<std::string, Indicator>> indicators_;  // symbol -> window
  std::map<std::string, std::map<std::string, Ticker>> tickers_;        // coin -> vs_currency
  std::size_t ticker_count_ = 0;
  std::map<std::pair<std::string, std::string>, TickerHistory> histories_;  // (coin, vs_currency)
  std::uint64_t histories_refused_ = 0;
  std::int64_t trades_seen_ = 0;
  std::int64_t last_closed_end_ = 0;
  PipelineStats pipeline_;
  bool from_origin_ = false;
};

}  // namespace cryptoflow::gateway
