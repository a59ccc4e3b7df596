#pragma once
// The stream processor's Kafka loop: trades in, candles (final and live updates) and late
// trades out, undecodable records to the dead-letter topic. Offsets are committed every
// commit interval, after the outputs are acknowledged, and never past the first trade an open
// window still needs (at-least-once; see CandleEngine).
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "candle_engine.hpp"
#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/metrics.hpp"

namespace cryptoflow::processor {

struct ProcessorOptions {
  EngineOptions engine;
  std::string group_id = "stream-processor";
  std::string trades_topic = "crypto.trades";
  std::string candles_topic = "crypto.candles";
  std::string late_topic = "crypto.late-trades";
  std::string dead_letter_topic = "crypto.dead-letter";
  std::chrono::milliseconds commit_interval{100};
  bool live_updates = true;  // emit final=false updates of open windows each commit interval
};

class StreamProcessor {
 public:
  StreamProcessor(const kafka::Properties& props, ProcessorOptions options, MetricsRegistry& metrics);
  // Runs until stop() is true, then emits what is due, commits and returns.
  void run(const std::function<bool()>& stop);
  [[nodiscard]] bool ready() const { return ready_.load(); }

 private:
  void handle(const rd_kafka_message_t& m);
  void tick();
  void commit(const std::vector<kafka::TopicPartition>& only = {});
  void on_revoked(const std::vector<kafka::TopicPartition>& parts);

  ProcessorOptions options_;
  CandleEngine engine_;
  MetricsRegistry& metrics_;
  kafka::Producer producer_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::map<kafka::TopicPartition, std::int64_t> next_offset_;  // processed: next to read
  std::vector<Candle> out_;
  std::atomic<bool> ready_{false};
  Counter& trades_in_;
  Counter& late_;
  Counter& dead_lettered_;
  Counter& finals_;
  Counter& updates_;
  Gauge& watermark_;
  Gauge& open_windows_;
  Histogram& commit_latency_;
  RateLimitedLog bad_input_log_;
};

}  // namespace cryptoflow::processor
