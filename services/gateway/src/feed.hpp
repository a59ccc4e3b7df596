#pragma once
// The gateway's input: crypto.candles, crypto.indicators and crypto.tickers, every partition,
// read without a consumer group (every replica serves everything) from GATEWAY_HISTORY back.
// Ready once every partition has been read to the end it had; only then do changes go live
// (a restart replays its history into the store, not into the clients).
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "cryptoflow/kafka/record.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/metrics.hpp"
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
  std::int64_t history_ms = 86'400'000;
};

class Feed {
 public:
  Feed(FeedOptions options, MarketStore& store, std::function<void(Event)> publish, MetricsRegistry& metrics);

  // Assigns every partition from history_ms ago and applies records until stop() is true.
  void run(kafka::KafkaReader& reader, const std::function<bool()>& stop);
  // One record: decoded, applied, published when it changed something and the feed is live.
  void apply(const kafka::Record& record);
  void set_live() { live_ = true; }
  [[nodiscard]] bool ready() const { return live_.load(); }

 private:
  FeedOptions o_;
  MarketStore& store_;
  std::function<void(Event)> publish_;
  std::atomic<bool> live_{false};
  Counter& records_;
  Counter& undecodable_;
  Counter& refused_;
  Gauge& series_;
  RateLimitedLog bad_log_;
};

}  // namespace cryptoflow::gateway
