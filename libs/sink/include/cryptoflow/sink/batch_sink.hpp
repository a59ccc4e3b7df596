#pragma once
// The sinks' common loop (influxdb-sink, elasticsearch-sink): read records (read_committed),
// encode them into a batch, write the batch to a Destination, and commit its offsets only once
// every record of it is written or dead-lettered (at-least-once; destinations write
// idempotently, so a replay changes nothing).
//
// One write is in flight while the next batch is read and encoded (the write runs on a worker
// thread): the database is kept busy instead of idling while records are decoded. Batches are
// committed in order; records that cannot be decoded are dead-lettered and committed with their
// batch, never before records read ahead of them.
//
// The Destination reports a result per record: written, retry (database down, 429, 5xx: the
// consumer pauses, the record stays in the batch and is retried with exponential backoff and
// jitter, honouring Retry-After) or rejected (the database refuses that record: it goes to the
// dead-letter topic with the reason; the rest of the batch is written). Memory stays bounded
// by two batches: nothing new is read while a batch waits for the database.
//
// Offsets are committed only for partitions this member still owns: a record read before its
// partition was revoked is written (harmless: writes are idempotent) but its offset is left to
// the new owner, whose committed offset must not move backwards.
//
// The Kafka clients are passed in (libs/kafka's interfaces): the service wires real ones, the
// unit tests in-memory fakes.
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/kafka/client.hpp"
#include "cryptoflow/kafka/consumer_scope.hpp"
#include "cryptoflow/runtime/backoff.hpp"
#include "cryptoflow/runtime/config.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "cryptoflow/runtime/metrics.hpp"

namespace cryptoflow::sink {

enum class Disposition { written, retry, rejected };

struct ItemResult {
  Disposition disposition = Disposition::written;
  std::string reason;  // why rejected (the database's words)
};

struct Slice {  // one encoded record inside the batch body
  std::size_t begin = 0, end = 0;
};

// The encoded records slices[lo, hi) of body, in order: a view of body itself when they lie
// back to back (a batch without dead-lettered records, written whole), else joined in scratch.
std::string_view joined(const std::string& body, const std::vector<Slice>& slices, std::size_t lo, std::size_t hi,
                        std::string& scratch);

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
  // Writes the records at `slices` of `body`. Runs on the sink's writer thread, concurrently
  // with encode() for the next batch: the two must not share mutable state.
  virtual WriteOutcome write(const std::string& body, const std::vector<Slice>& slices) = 0;
};

struct SinkOptions {
  std::string group_id;
  std::vector<std::string> topics;
  std::string dead_letter_topic = "crypto.dead-letter";
  std::size_t batch_size = 5000;
  std::size_t batch_bytes = 0;  // a batch is full once its body reaches this (0: no limit); may pass it by one record
  std::chrono::milliseconds flush_interval{1000};
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{30'000};
};

// SINK_TOPICS, GROUP_ID and DEAD_LETTER_TOPIC, plus the sink's own batch-size and
// flush-interval variables (INFLUX_BATCH_SIZE / ES_BULK_ACTIONS, ...).
SinkOptions options_from_config(const Config& config, const std::string& batch_size_var,
                                const std::string& flush_interval_var);

struct SinkClients {
  kafka::Consumer& input;         // the topics, as a member of options.group_id
  kafka::Producer& dead_letters;  // idempotent, not transactional
};

class BatchSink {
 public:
  BatchSink(SinkOptions options, SinkClients clients, Destination& destination, MetricsRegistry& metrics);
  ~BatchSink();
  BatchSink(const BatchSink&) = delete;
  BatchSink& operator=(const BatchSink&) = delete;
  // Subscribes, then runs until stop() is true; writes what it holds within 10 s and leaves the
  // group. Throws what it cannot recover from, after leaving the group (nothing committed then).
  void run(const std::function<bool()>& stop);
  [[nodiscard]] bool ready() const { return ready_.load(); }

 private:
  struct Record {
    kafka::Record msg;
    Slice slice;
    bool dead_lettered = false;  // not written; committed with its batch
  };
  struct Batch {
    std::vector<Record> records;
    std::string body;
    std::chrono::steady_clock::time_point started;
  };
  struct Flight {  // a batch whose first write runs on the writer thread
    Batch batch;
    std::vector<std::size_t> pending;  // indexes of the records written (not dead-lettered)
    std::future<WriteOutcome> outcome;
    std::chrono::steady_clock::time_point sent;
  };
  bool step();   // one turn of the loop; false: a batch could not be written before the stop
  void drain();  // after the stop: one more try to write what is held, within 10 s
  std::optional<kafka::Record> poll(std::chrono::milliseconds timeout);
  void add(kafka::Record m);
  void launch();                                 // the current batch becomes the flight
  bool land(const std::function<bool()>& stop);  // waits for the flight, retries, commits; false: stopped
  void commit();                                 // dead-letter records delivered first, then the marked offsets

  SinkOptions options_;
  kafka::Consumer& input_;
  kafka::Producer& dead_letters_;
  Destination& destination_;
  std::set<kafka::TopicPartition> owned_;  // assigned to this member now
  kafka::OffsetMap marked_;                // next offsets to commit, of owned partitions
  Batch batch_;                            // being read and encoded
  Batch spare_;                            // a landed batch, emptied: its buffers serve the next one
  std::optional<Flight> flight_;           // being written
  std::atomic<bool> ready_{true};
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
  std::function<bool()> stop_;  // run()'s
  bool ok_ = true;              // false once a batch could not be written before stop(): nothing later may be committed
  kafka::ConsumerScope scope_;  // last: it closes the consumer first, while what its callbacks use is there
};

}  // namespace cryptoflow::sink
