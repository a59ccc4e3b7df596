#include "influx_sink.hpp"

#include <algorithm>
#include <thread>

#include "line_protocol.hpp"

namespace cryptoflow::influx {

std::string encode_record(const SinkOptions& o, const std::string& topic, std::string_view value, std::string& lines) {
  auto encode = [&](auto decoded) -> std::string {
    if (!decoded) return decoded.error;
    append_line(lines, *decoded.value);
    return {};
  };
  if (topic == o.candles_topic) return encode(decode_candle(value));
  if (topic == o.indicators_topic) return encode(decode_indicator(value));
  if (topic == o.tickers_topic) return encode(decode_ticker(value));
  return "no InfluxDB measurement for topic " + topic;
}

InfluxSink::InfluxSink(const kafka::Properties& props, SinkOptions options, InfluxWriter& writer, MetricsRegistry& m)
    : options_(std::move(options)),
      writer_(writer),
      producer_(props, m),
      records_in_(m.counter("cryptoflow_sink_records_in_total", "Records read from Kafka")),
      points_written_(m.counter("cryptoflow_sink_written_total", "Points acknowledged by InfluxDB")),
      batches_(m.counter("cryptoflow_sink_batches_total", "Batches written")),
      retries_(m.counter("cryptoflow_sink_retries_total", "Batch writes retried (database down, 429, 5xx)")),
      rejected_(m.counter("cryptoflow_sink_rejected_total", "Records InfluxDB rejected as invalid")),
      dead_lettered_(m.counter("cryptoflow_sink_dead_lettered_total", "Records sent to the dead-letter topic")),
      paused_seconds_(m.gauge("cryptoflow_sink_paused_seconds_total", "Time consumption was paused for the database")),
      write_latency_(m.histogram("cryptoflow_sink_write_latency_ms", "Time of one successful write request",
                                 latency_buckets_ms())) {
  consumer_ = std::make_unique<kafka::Consumer>(props, options_.group_id, options_.topics);
}

void InfluxSink::run(const std::function<bool()>& stop) {
  while (!stop()) {
    if (auto m = consumer_->poll(50)) add(std::move(m));
    const bool full = batch_.size() >= options_.batch_size;
    const bool due = !batch_.empty() && std::chrono::steady_clock::now() - batch_started_ >= options_.flush_interval;
    if (full || due) flush(stop);
  }
  log_info("draining", {{"batched", static_cast<std::int64_t>(batch_.size())}});
  if (!batch_.empty()) {
    // One more try within a bounded time; what cannot be written stays uncommitted in Kafka.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    flush([&] { return std::chrono::steady_clock::now() > deadline; });
  }
  consumer_->close();
}

void InfluxSink::add(kafka::MessagePtr m) {
  records_in_.inc();
  if (batch_.empty()) batch_started_ = std::chrono::steady_clock::now();
  const auto begin = body_.size();
  const auto error = encode_record(options_, kafka::topic_of(*m), kafka::value_of(*m), body_);
  if (!error.empty()) {
    body_.resize(begin);
    dead_lettered_.inc();
    bad_input_log_(LogLevel::warn, "undecodable record to dead-letter",
                   {{"topic", kafka::topic_of(*m)}, {"error", error}});
    kafka::send_to_dead_letter(producer_, options_.dead_letter_topic, *m, error);
    consumer_->mark_processed(*m);
    return;
  }
  batch_.push_back({std::move(m), begin, body_.size()});
}

WriteStatus InfluxSink::write_range(std::size_t lo, std::size_t hi, WriteResult& last) {
  const auto started = std::chrono::steady_clock::now();
  last = writer_.write(body_.substr(batch_[lo].begin, batch_[hi - 1].end - batch_[lo].begin));
  if (last.status == WriteStatus::ok) {
    write_latency_.observe(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    points_written_.inc(hi - lo);
    return WriteStatus::ok;
  }
  if (last.status == WriteStatus::retry) return WriteStatus::retry;
  if (hi - lo == 1) {  // isolated: this record is the one InfluxDB refuses
    rejected_.inc();
    dead_lettered_.inc();
    log_warn("InfluxDB rejected a record; sent to dead-letter",
             {{"status", static_cast<std::int64_t>(last.http_status)}, {"error", last.message}});
    kafka::send_to_dead_letter(producer_, options_.dead_letter_topic, *batch_[lo].msg,
                               "influxdb rejected: " + last.message);
    return WriteStatus::ok;
  }
  const auto mid = lo + (hi - lo) / 2;
  if (write_range(lo, mid, last) == WriteStatus::retry) return WriteStatus::retry;
  return write_range(mid, hi, last);
}

bool InfluxSink::flush(const std::function<bool()>& stop) {
  auto backoff = std::chrono::milliseconds(200);
  std::chrono::steady_clock::time_point paused_at{};
  bool paused = false;
  for (;;) {
    WriteResult last;
    if (write_range(0, batch_.size(), last) == WriteStatus::ok) break;
    retries_.inc();
    ready_ = false;
    if (!paused) {
      consumer_->pause_all();
      paused = true;
      paused_at = std::chrono::steady_clock::now();
    }
    auto wait = std::uniform_int_distribution<std::int64_t>(backoff.count() / 2, backoff.count())(rng_);
    if (last.retry_after) wait = std::max<std::int64_t>(wait, last.retry_after->count());
    retry_log_(LogLevel::warn, "InfluxDB write failed; consumption paused, retrying",
               {{"status", static_cast<std::int64_t>(last.http_status)},
                {"error", last.message},
                {"retry_in_ms", wait},
                {"batched", static_cast<std::int64_t>(batch_.size())}});
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
    while (std::chrono::steady_clock::now() < until) {
      if (stop()) {
        paused_seconds_.add(std::chrono::duration<double>(std::chrono::steady_clock::now() - paused_at).count());
        consumer_->resume_all();
        return false;  // uncommitted: the records stay in Kafka
      }
      // Serve rebalances and heartbeats. Paused partitions return nothing; a partition newly
      // assigned meanwhile may: those records join the batch.
      if (auto m = consumer_->poll(50)) add(std::move(m));
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  if (paused) {
    paused_seconds_.add(std::chrono::duration<double>(std::chrono::steady_clock::now() - paused_at).count());
    consumer_->resume_all();
    log_info("InfluxDB writes resumed", {{"batched", static_cast<std::int64_t>(batch_.size())}});
  }
  for (const auto& r : batch_) consumer_->mark_processed(*r.msg);
  if (!producer_.flush(std::chrono::seconds(30)) || producer_.failed() > 0)
    throw std::runtime_error("dead-letter records could not be delivered");
  consumer_->commit();
  batches_.inc();
  batch_.clear();
  body_.clear();
  ready_ = true;
  return true;
}

}  // namespace cryptoflow::influx
