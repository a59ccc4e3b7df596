#pragma once
// The sinks' common loop (influxdb-sink, elasticsearch-sink): read records (read_committed),
// encode them into a batch, write the batch to a Destination, and commit its offsets only once
// every record of it is written or dead-lettered (at-least-once; destinations write
// idempotently, so a replay changes nothing).
//
// The Destination reports a result per record: written, retry (database down, 429, 5xx: the
// consumer pauses, the record stays in the batch and is retried with exponential backoff and
// jitter, honouring Retry-After) or rejected (the database refuses that record: it goes to the
// dead-letter topic with the reason; the rest of the batch is written). Memory stays bounded
// by one batch: nothing new is read while a batch waits.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/metrics.hpp"

namespace cryptoflow::sink {

enum class Disposition { written, retry, rejected };

struct ItemResult {
  Disposition disposition = Disposition::written;
  std::string reason;  // why rejected (the database's words)
};

struct Slice {  // one encoded record inside the batch body
  std::size_t begin = 0, end = 0;
};

struct WriteOutcome {
  std::vector<ItemResult> items;  // one per slice written, same order
  std::optional<std::chrono::milliseconds> retry_after;
  long http_status = 0;  // for logs when something is retried
  std::string error;
};

class Destination {
 public:
  virtual ~Destination() = default;
  // Appends the record's encoded form to body; returns an error text if undecodable.
  virtual std::string encode(const std::string& topic, std::string_view value, std::string& body) = 0;
  // Writes the records at `slices` of `body`.
  virtual WriteOutcome write(const std::string& body, const std::vector<Slice>& slices) = 0;
};

struct SinkOptions {
  std::string group_id;
  std::vector<std::string> topics;
  std::string dead_letter_topic = "crypto.dead-letter";
  std::size_t batch_size = 5000;
  std::chrono::milliseconds flush_interval{1000};
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{30'000};
};

// SINK_TOPICS, GROUP_ID and DEAD_LETTER_TOPIC, plus the sink's own batch-size and
// flush-interval variables (INFLUX_BATCH_SIZE / ES_BULK_ACTIONS, ...).
SinkOptions options_from_config(const Config& config, const std::string& batch_size_var,
                                const std::string& flush_interval_var);

class BatchSink {
 public:
  BatchSink(const kafka::Properties& props, SinkOptions options, Destination& destination, MetricsRegistry& metrics);
  void run(const std::function<bool()>& stop);
  [[nodiscard]] bool ready() const { return ready_.load(); }

 private:
  struct Record {
    kafka::MessagePtr msg;
    Slice slice;
  };
  void add(kafka::MessagePtr m);
  bool flush(const std::function<bool()>& stop);  // false: stopped with the batch unwritten
  void commit();                                  // dead-letter records delivered first, then the marked offsets

  SinkOptions options_;
  Destination& destination_;
  kafka::Producer producer_;  // dead-letter records
  std::unique_ptr<kafka::Consumer> consumer_;
  std::string body_;
  std::vector<Record> batch_;
  std::chrono::steady_clock::time_point batch_started_;
  std::atomic<bool> ready_{true};
  std::mt19937_64 rng_{std::random_device{}()};
  Counter& records_in_;
  Counter& written_;
  Counter& batches_;
  Counter& retries_;
  Counter& rejected_;
  Counter& dead_lettered_;
  Gauge& paused_seconds_;
  Gauge& lag_;
  Histogram& write_latency_;
  RateLimitedLog bad_input_log_;
  RateLimitedLog retry_log_;
};

}  // namespace cryptoflow::sink
