#include "cryptoflow/sink/batch_sink.hpp"

#include <algorithm>
#include <utility>

#include "cryptoflow/kafka/dead_letter.hpp"

namespace cryptoflow::sink {

std::string_view joined(const std::string& body, const std::vector<Slice>& slices, std::size_t lo, std::size_t hi,
                        std::string& scratch) {
  bool contiguous = true;
  for (std::size_t i = lo + 1; i < hi && contiguous; ++i) contiguous = slices[i].begin == slices[i - 1].end;
  if (lo < hi && contiguous)
    return std::string_view(body).substr(slices[lo].begin, slices[hi - 1].end - slices[lo].begin);
  scratch.clear();
  for (std::size_t i = lo; i < hi; ++i) scratch.append(body, slices[i].begin, slices[i].end - slices[i].begin);
  return scratch;
}

SinkOptions options_from_config(const Config& config, const std::string& batch_size_var,
                                const std::string& flush_interval_var) {
  SinkOptions so;
  so.topics = config.list("SINK_TOPICS");
  if (so.topics.empty()) throw ConfigError("SINK_TOPICS is empty");
  so.group_id = config.str("GROUP_ID");
  so.dead_letter_topic = config.str("DEAD_LETTER_TOPIC");
  so.batch_size = static_cast<std::size_t>(config.integer(batch_size_var, 1, 1'000'000));
  so.flush_interval = std::chrono::milliseconds(config.integer(flush_interval_var, 1, 3'600'000));
  return so;
}

BatchSink::BatchSink(SinkOptions options, SinkClients clients, Destination& destination, MetricsRegistry& m)
    : options_(std::move(options)),
      input_(clients.input),
      dead_letters_(clients.dead_letters),
      destination_(destination),
      records_in_(m.counter("cryptoflow_sink_records_in_total", "Records read from Kafka")),
      written_(m.counter("cryptoflow_sink_written_total", "Records the database acknowledged")),
      batches_(m.counter("cryptoflow_sink_batches_total", "Batches written and committed")),
      retries_(m.counter("cryptoflow_sink_retries_total", "Batch writes retried (database down, 429, 5xx)")),
      rejected_(m.counter("cryptoflow_sink_rejected_total", "Records the database refused as invalid")),
      dead_lettered_(m.counter("cryptoflow_sink_dead_lettered_total", "Records sent to the dead-letter topic")),
      paused_seconds_(m.gauge("cryptoflow_sink_paused_seconds_total", "Time consumption was paused for the database")),
      lag_(m.gauge("cryptoflow_sink_consumer_lag", "Records behind the end of the assigned partitions")),
      write_latency_(
          m.histogram("cryptoflow_sink_write_latency_ms", "Time of one write request", latency_buckets_ms())),
      scope_(input_, options_.topics,
             {.name = "sink",
              .start = {},
              .assigned =
                  [this](const std::vector<kafka::TopicPartition>& parts) {
                    owned_.insert(parts.begin(), parts.end());
                    return kafka::OffsetMap{};
                  },
              .revoked =
                  [this](const std::vector<kafka::TopicPartition>& parts, bool) {
                    for (const auto& tp : parts) {
                      owned_.erase(tp);
                      marked_.erase(tp);
                    }
                  },
              .step = [this] { return step(); },
              .drain = [this] { drain(); },
              .failed =
                  [this] {
                    ready_ = false;
                    if (flight_ && flight_->outcome.valid()) flight_->outcome.wait();
                    owned_.clear();  // the revocation leaving the group runs finds nothing to commit
                    marked_.clear();
                  }}) {}

BatchSink::~BatchSink() {
  if (flight_ && flight_->outcome.valid()) flight_->outcome.wait();  // the writer thread reads the batch
}  // then scope_ closes the consumer: no callback reaches this sink afterwards

void BatchSink::run(const std::function<bool()>& stop) {
  stop_ = stop;
  scope_.run(stop);
}

bool BatchSink::step() {
  // While a write is out, poll briefly so that its end is noticed soon.
  if (auto m = poll(std::chrono::milliseconds(flight_ ? 5 : 50))) add(std::move(*m));
  if (flight_ && flight_->outcome.wait_for(std::chrono::seconds(0)) == std::future_status::ready) ok_ = land(stop_);
  const bool full = batch_.records.size() >= options_.batch_size ||
                    (options_.batch_bytes > 0 && batch_.body.size() >= options_.batch_bytes);
  const bool due =
      !batch_.records.empty() && std::chrono::steady_clock::now() - batch_.started >= options_.flush_interval;
  if (ok_ && (full || due)) {
    if (flight_) ok_ = land(stop_);  // one write in flight at a time
    if (ok_) launch();
  }
  return ok_;
}

void BatchSink::drain() {
  log_info("draining", {{"batched", static_cast<std::int64_t>(batch_.records.size())}});
  // One more try within a bounded time; what cannot be written stays uncommitted in Kafka.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const auto past_deadline = [&] { return std::chrono::steady_clock::now() > deadline; };
  if (ok_ && flight_) ok_ = land(past_deadline);
  if (ok_ && !batch_.records.empty()) {
    launch();
    (void)land(past_deadline);
  }
  if (flight_ && flight_->outcome.valid()) flight_->outcome.wait();
}

// Partitions assigned while the database is down are paused as soon as they are assigned
// (ConsumerScope): nothing new is read while a batch waits.
std::optional<kafka::Record> BatchSink::poll(std::chrono::milliseconds timeout) {
  return scope_.poll(timeout);
}

void BatchSink::add(kafka::Record m) {
  records_in_.inc();
  if (batch_.records.empty()) batch_.started = std::chrono::steady_clock::now();
  const auto begin = batch_.body.size();
  const auto error = destination_.encode(m.topic, m.value, batch_.body);
  if (!error.empty()) {
    batch_.body.resize(begin);
    dead_lettered_.inc();
    bad_input_log_(LogLevel::warn, "undecodable record to dead-letter", {{"topic", m.topic}, {"error", error}});
    kafka::send_to_dead_letter(dead_letters_, options_.dead_letter_topic, m, error);
    batch_.records.push_back({std::move(m), {begin, begin}, true});
    return;
  }
  batch_.records.push_back({std::move(m), {begin, batch_.body.size()}, false});
}

void BatchSink::commit() {
  // Dead-letter records are acknowledged before the offsets that skip their originals; a
  // dead-letter record that cannot be delivered ends the sink (its original stays uncommitted).
  dead_letters_.flush(std::chrono::seconds(30));
  try {
    input_.commit(marked_);
    marked_.clear();
  } catch (const kafka::KafkaError& e) {
    if (e.is_fatal() || e.kind() == kafka::ErrorKind::failed) throw;
    log_warn("offset commit failed; retried with the next batch", {{"error", e.what()}});
  }
}

void BatchSink::launch() {
  auto& f = flight_.emplace();  // in place: the writer thread reads f.batch.body until f.outcome is ready
  f.batch = std::exchange(batch_, std::move(spare_));  // the next batch reuses a landed one's capacity
  spare_ = Batch{};
  std::vector<Slice> slices;
  for (std::size_t i = 0; i < f.batch.records.size(); ++i)
    if (!f.batch.records[i].dead_lettered) {
      f.pending.push_back(i);
      slices.push_back(f.batch.records[i].slice);
    }
  f.sent = std::chrono::steady_clock::now();
  if (slices.empty()) {  // dead-lettered records only: nothing to write, just commit
    std::promise<WriteOutcome> none;
    none.set_value({});
    f.outcome = none.get_future();
    return;
  }
  f.outcome = std::async(std::launch::async, [this, body = &f.batch.body, slices = std::move(slices)] {
    return destination_.write(*body, slices);
  });
}

bool BatchSink::land(const std::function<bool()>& stop) {
  auto& f = *flight_;
  auto outcome = f.outcome.get();
  if (!f.pending.empty())
    write_latency_.observe(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - f.sent).count());
  auto pending = f.pending;
  Backoff backoff(options_.first_backoff, options_.max_backoff);
  std::chrono::steady_clock::time_point paused_at{};
  bool paused = false;
  auto end_pause = [&] {
    if (!paused) return;
    paused_seconds_.add(std::chrono::duration<double>(std::chrono::steady_clock::now() - paused_at).count());
    scope_.resume();
    paused = false;
  };
  for (;;) {
    std::vector<std::size_t> again;
    for (std::size_t k = 0; k < pending.size(); ++k) {
      const auto& item = k < outcome.items.size() ? outcome.items[k] : ItemResult{Disposition::retry, {}};
      auto& rec = f.batch.records[pending[k]];
      switch (item.disposition) {
        case Disposition::written: written_.inc(); break;
        case Disposition::retry: again.push_back(pending[k]); break;
        case Disposition::rejected:
          rejected_.inc();
          dead_lettered_.inc();
          log_warn("the database refused a record; sent to dead-letter", {{"reason", item.reason}});
          kafka::send_to_dead_letter(dead_letters_, options_.dead_letter_topic, rec.msg, item.reason);
          break;
      }
    }
    if (again.empty()) break;
    pending = std::move(again);
    retries_.inc();
    ready_ = false;
    if (!paused) {
      scope_.pause();
      paused = true;
      paused_at = std::chrono::steady_clock::now();
    }
    auto wait = backoff.next().count();
    if (outcome.retry_after) wait = std::max<std::int64_t>(wait, outcome.retry_after->count());
    retry_log_(LogLevel::warn, "write failed; consumption paused, retrying",
               {{"status", static_cast<std::int64_t>(outcome.http_status)},
                {"error", outcome.error},
                {"retry_in_ms", wait},
                {"waiting", static_cast<std::int64_t>(pending.size())}});
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
    while (std::chrono::steady_clock::now() < until) {
      if (stop()) {
        end_pause();
        flight_.reset();
        return false;  // uncommitted: the records stay in Kafka
      }
      // Serve rebalances and heartbeats. Paused partitions return nothing; a partition newly
      // assigned meanwhile may: those records join the next batch.
      if (auto m = poll(std::chrono::milliseconds(50))) add(std::move(*m));
    }
    std::vector<Slice> slices;
    slices.reserve(pending.size());
    for (auto i : pending) slices.push_back(f.batch.records[i].slice);
    const auto started = std::chrono::steady_clock::now();
    outcome = destination_.write(f.batch.body, slices);
    write_latency_.observe(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
  }
  if (paused) log_info("writes resumed", {{"batched", static_cast<std::int64_t>(batch_.records.size())}});
  end_pause();
  for (const auto& r : f.batch.records)
    if (owned_.count(r.msg.topic_partition())) marked_[r.msg.topic_partition()] = r.msg.offset + 1;
  commit();
  lag_.set(static_cast<double>(input_.lag()));
  batches_.inc();
  spare_ = std::move(f.batch);
  spare_.records.clear();
  spare_.body.clear();
  flight_.reset();
  ready_ = true;
  return true;
}

}  // namespace cryptoflow::sink
