#pragma once
// influxdb-sink's loop: read candles, indicators and tickers (read_committed), batch them as
// line protocol, write a batch, and only then commit its offsets (at-least-once; the writes
// are idempotent because a point is identified by series + event time).
// While InfluxDB is down or slow the consumer is paused and the batch retried with
// exponential backoff and jitter (honouring Retry-After): nothing is dropped, memory is
// bounded by one batch. A record InfluxDB rejects (400) is isolated by splitting the batch
// and sent to the dead-letter topic; the rest of the batch is written.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/metrics.hpp"
#include "influx_writer.hpp"

namespace cryptoflow::influx {

struct SinkOptions {
  std::string group_id = "influxdb-sink";
  std::vector<std::string> topics;
  std::string candles_topic = "crypto.candles";
  std::string indicators_topic = "crypto.indicators";
  std::string tickers_topic = "crypto.tickers";
  std::string dead_letter_topic = "crypto.dead-letter";
  std::size_t batch_size = 5000;
  std::chrono::milliseconds flush_interval{1000};
  std::chrono::milliseconds max_backoff{30'000};
};

// Encodes one record of `topic` as a line; returns an error text for undecodable records.
std::string encode_record(const SinkOptions& options, const std::string& topic, std::string_view value,
                          std::string& lines);

class InfluxSink {
 public:
  InfluxSink(const kafka::Properties& props, SinkOptions options, InfluxWriter& writer, MetricsRegistry& metrics);
  void run(const std::function<bool()>& stop);
  [[nodiscard]] bool ready() const { return ready_.load(); }

 private:
  struct Record {
    kafka::MessagePtr msg;
    std::size_t begin = 0, end = 0;  // its line in body_
  };
  void add(kafka::MessagePtr m);
  // Writes the batch until it succeeds or stop() turns true; then commits. False if stopped.
  bool flush(const std::function<bool()>& stop);
  WriteStatus write_range(std::size_t lo, std::size_t hi, WriteResult& last);

  SinkOptions options_;
  InfluxWriter& writer_;
  kafka::Producer producer_;  // dead-letter records
  std::unique_ptr<kafka::Consumer> consumer_;
  std::string body_;
  std::vector<Record> batch_;
  std::chrono::steady_clock::time_point batch_started_;
  std::atomic<bool> ready_{true};
  std::mt19937_64 rng_{std::random_device{}()};
  Counter& records_in_;
  Counter& points_written_;
  Counter& batches_;
  Counter& retries_;
  Counter& rejected_;
  Counter& dead_lettered_;
  Gauge& paused_seconds_;
  Histogram& write_latency_;
  RateLimitedLog bad_input_log_;
  RateLimitedLog retry_log_;
};

}  // namespace cryptoflow::influx
