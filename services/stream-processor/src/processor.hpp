#pragma once
// The stream processor's Kafka loop: trades in; candles (final and live updates), moving
// averages and late trades out; undecodable records to the dead-letter topic.
//
// Every commit interval it writes, in this order: the outputs, then one state record per input
// partition that changed (its window state and next input offset), then the input offsets.
// exactly_once does all of it in one Kafka transaction (read_committed in, transactional out,
// offsets via send_offsets_to_transaction); at_least_once does the same without a transaction.
// A partition's state is restored from its newest state record when it is assigned, before it
// is read, and processing resumes at the offset stored with it.
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "candle_engine.hpp"
#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/metrics.hpp"
#include "state_store.hpp"

namespace cryptoflow::processor {

struct ProcessorOptions {
  EngineOptions engine;
  bool exactly_once = true;
  std::string transactional_id;  // stable per instance; required for exactly_once
  std::string group_id = "stream-processor";
  std::string trades_topic = "crypto.trades";
  std::string candles_topic = "crypto.candles";
  std::string indicators_topic = "crypto.indicators";
  std::string late_topic = "crypto.late-trades";
  std::string dead_letter_topic = "crypto.dead-letter";
  std::string state_topic = "crypto.processor-state";
  std::chrono::milliseconds commit_interval{100};
  // Emit closed candles, averages and live updates this often between commits (0: at each
  // commit only). With at_least_once the outputs are visible as soon as they are written, so a
  // short interval cuts latency; with exactly_once they become visible at the commit anyway.
  std::chrono::milliseconds update_interval{0};
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
  void emit();
  void commit();
  void begin();
  void rewind();
  void rethrow_callback_error();
  std::map<kafka::TopicPartition, std::int64_t> restore(const std::vector<kafka::TopicPartition>& parts);
  void on_revoked(const std::vector<kafka::TopicPartition>& parts);
  std::vector<kafka::Header> tag(std::int32_t partition);

  ProcessorOptions options_;
  CandleEngine engine_;
  MetricsRegistry& metrics_;
  kafka::Producer producer_;
  StateReader state_reader_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::map<std::int32_t, std::int64_t> next_offset_;  // processed: next to read, per assigned partition
  std::map<std::int32_t, StateRecord> committed_;     // last committed state per assigned partition
  std::set<std::int32_t> consumed_;                   // partitions read since the last commit
  std::uint64_t nonce_ = 0;
  bool in_txn_ = false;
  std::exception_ptr error_;  // raised in a rebalance callback, rethrown by run()
  std::uint64_t failed_at_begin_ = 0;
  std::vector<FromPartition<Candle>> candles_;
  std::vector<FromPartition<Indicator>> indicators_;
  std::atomic<bool> ready_{false};
  Counter& trades_in_;
  Counter& late_;
  Counter& dead_lettered_;
  Counter& finals_;
  Counter& updates_;
  Counter& indicators_out_;
  Counter& aborts_;
  Counter& restores_;
  Gauge& watermark_;
  Gauge& open_windows_;
  Gauge& state_bytes_;
  Histogram& commit_latency_;
  Histogram& restore_time_;
  RateLimitedLog bad_input_log_;
};

}  // namespace cryptoflow::processor
