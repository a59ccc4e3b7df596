#pragma once
// The gateway's input: crypto.candles, crypto.indicators and crypto.tickers, every partition,
// read without a consumer group (every replica serves everything) from GATEWAY_HISTORY back;
// crypto.trades from GATEWAY_TRADES_HISTORY back; crypto.books from GATEWAY_BOOKS_HISTORY back
// (which holds the producer's last periodic snapshot of every book).
// Ready once every partition has been read to the end it had; only then do changes go live
// (a restart replays its history into the store, not into the clients).
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "books.hpp"
#include "cryptoflow/kafka/record.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "cryptoflow/runtime/metrics.hpp"
#include "hub.hpp"
#include "store.hpp"

namespace cryptoflow::kafka {
class KafkaReader;
}

namespace cryptoflow::gateway {

struct FeedOptions {
  std::string candles_topic = "crypto.candles";
  std::string indicators_topic = "crypto.indicators";
  std::string tickers_topic = "crypto.tickers";
  std::string trades_topic = "crypto.trades";  // empty: trades are not read
  std::string books_topic = "crypto.books";    // empty (or no BookStore): books are not read
  std::int64_t books_history_ms = 120'000;     // more than the producer's snapshot interval
  std::int64_t history_ms = 86'400'000;
  std::int64_t trades_history_ms = 900'000;
};

// Where a topic's history starts: history_ms before now, or, when the topic holds nothing that
// recent (a replay of recorded data, a feed that stopped), history_ms before the newest record it
// holds, found by bisecting on timestamps. any_since(t): some partition holds a record stamped
// at or after t (Kafka's offsets for a timestamp).
std::int64_t history_start(const std::function<bool(std::int64_t)>& any_since, std::int64_t now_ms,
                           std::int64_t history_ms);

class Feed {
 public:
  // trades: where crypto.trades goes (none: the topic is not read).
  Feed(FeedOptions options, MarketStore& store, std::function<void(Event)> publish, MetricsRegistry& metrics,
       TradeStore* trades = nullptr, BookStore* books = nullptr);

  // Assigns every partition from history_ms ago and applies records until stop() is true.
  // dead_letters: the dead-letter count for the pipeline panel (counted elsewhere: never a
  // blocking call on this thread).
  void run(kafka::KafkaReader& reader, const std::function<bool()>& stop,
           const std::function<std::optional<std::int64_t>()>& dead_letters);
  // One record: decoded, applied, published when it changed something and the feed is live.
  void apply(const kafka::Record& record);
  void set_live() { live_ = true; }
  // The pipeline panel's figures: the trade rate from the last samples of the store's count
  // (one per call, at most 10 s apart kept) and the dead letters, when known.
  void sample(std::int64_t now_ms, std::optional<std::int64_t> dead_letters);
  [[nodiscard]] bool ready() const { return live_.load(); }

 private:
  FeedOptions o_;
  MarketStore& store_;
  TradeStore* trades_;
  BookStore* books_;
  Counter& refused_books_;
  std::function<void(Event)> publish_;
  std::atomic<bool> live_{false};
  Counter& records_;
  Counter& undecodable_;
  Counter& refused_;
  Counter& refused_trades_;
  Counter& refused_histories_;
  Gauge& series_;
  RateLimitedLog bad_log_;
  std::deque<std::pair<std::int64_t, std::int64_t>> samples_;  // (ms, trades seen)
  std::uint64_t records_read_ = 0;
};

}  // namespace cryptoflow::gateway
