#include "processor.hpp"

#include <algorithm>

#include "cryptoflow/clock.hpp"

namespace cryptoflow::processor {

StreamProcessor::StreamProcessor(const kafka::Properties& props, ProcessorOptions options, MetricsRegistry& m)
    : options_(std::move(options)),
      engine_(options_.engine),
      metrics_(m),
      producer_(props, m),
      trades_in_(m.counter("cryptoflow_processor_trades_in_total", "Trades read")),
      late_(m.counter("cryptoflow_processor_late_trades_total", "Trades behind the watermark (to late-trades)")),
      dead_lettered_(m.counter("cryptoflow_processor_dead_lettered_total", "Records sent to the dead-letter topic")),
      finals_(m.counter("cryptoflow_processor_candles_out_total", "Candles emitted", {{"kind", "final"}})),
      updates_(m.counter("cryptoflow_processor_candles_out_total", "Candles emitted", {{"kind", "update"}})),
      watermark_(m.gauge("cryptoflow_processor_watermark_ms", "Current event-time watermark (ms since epoch)")),
      open_windows_(m.gauge("cryptoflow_processor_open_windows", "Candle windows held in memory")),
      commit_latency_(
          m.histogram("cryptoflow_processor_commit_latency_ms", "Flush + offset commit time", latency_buckets_ms())) {
  kafka::Consumer::Listener listener;
  listener.assigned = [this](const std::vector<kafka::TopicPartition>&) { ready_ = true; };
  listener.revoked = [this](const std::vector<kafka::TopicPartition>& parts) { on_revoked(parts); };
  consumer_ = std::make_unique<kafka::Consumer>(props, options_.group_id,
                                                std::vector<std::string>{options_.trades_topic}, listener);
}

void StreamProcessor::run(const std::function<bool()>& stop) {
  auto last_tick = std::chrono::steady_clock::now();
  while (!stop()) {
    if (auto m = consumer_->poll(20)) {
      handle(*m);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_tick >= options_.commit_interval) {
      tick();
      last_tick = now;
    }
  }
  log_info("draining");
  tick();
  consumer_->close();
}

void StreamProcessor::handle(const rd_kafka_message_t& m) {
  next_offset_[{kafka::topic_of(m), m.partition}] = m.offset + 1;
  auto decoded = decode_trade(kafka::value_of(m));
  std::string error = decoded ? check_trade(*decoded.value) : decoded.error;
  if (!error.empty()) {
    dead_lettered_.inc();
    bad_input_log_(LogLevel::warn, "bad trade record to dead-letter",
                   {{"error", error}, {"partition", m.partition}, {"offset", static_cast<std::int64_t>(m.offset)}});
    kafka::send_to_dead_letter(producer_, options_.dead_letter_topic, m, error);
    return;
  }
  trades_in_.inc();
  const auto& t = *decoded.value;
  if (engine_.add(m.partition, m.offset, t, wall_clock_ms()).late) {
    late_.inc();
    producer_.produce(options_.late_topic, kafka::key_of(m), kafka::value_of(m), t.trade_time);
  }
}

void StreamProcessor::tick() {
  out_.clear();
  engine_.close_windows(wall_clock_ms(), out_);
  const auto n_final = out_.size();
  if (options_.live_updates) engine_.take_updates(out_);
  for (std::size_t i = 0; i < out_.size(); ++i) {
    const auto& c = out_[i];
    producer_.produce(options_.candles_topic, candle_key(c), to_json(c), c.start);
    (i < n_final ? finals_ : updates_).inc();
  }
  watermark_.set(static_cast<double>(engine_.watermark()));
  open_windows_.set(static_cast<double>(engine_.open_windows()));
  commit();
}

void StreamProcessor::commit(const std::vector<kafka::TopicPartition>& only) {
  const auto started = std::chrono::steady_clock::now();
  if (!producer_.flush(std::chrono::seconds(30))) throw std::runtime_error("outputs not acknowledged within 30 s");
  if (producer_.failed() > 0) throw std::runtime_error("an output record could not be delivered");
  std::map<kafka::TopicPartition, std::int64_t> offsets;
  for (const auto& [tp, next] : next_offset_) {
    if (!only.empty() && std::find(only.begin(), only.end(), tp) == only.end()) continue;
    offsets[tp] = std::min(next, engine_.resume_offset(tp.partition).value_or(next));
  }
  consumer_->commit_offsets(offsets);
  commit_latency_.observe(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
}

void StreamProcessor::on_revoked(const std::vector<kafka::TopicPartition>& parts) {
  commit(parts);
  for (const auto& tp : parts) {
    engine_.drop_partition(tp.partition);
    next_offset_.erase(tp);
  }
}

}  // namespace cryptoflow::processor
