#include "processor.hpp"

#include <algorithm>
#include <random>

#include "cryptoflow/clock.hpp"
#include "cryptoflow/config.hpp"

namespace cryptoflow::processor {
namespace {

constexpr auto kTxnTimeout = std::chrono::seconds(60);
constexpr std::int64_t kMaxFutureMs = 86'400'000;  // a trade more than a day ahead is refused

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

std::uint64_t new_nonce() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

}  // namespace

StreamProcessor::StreamProcessor(const kafka::Properties& props, ProcessorOptions options, MetricsRegistry& m)
    : options_(std::move(options)),
      engine_(options_.engine),
      metrics_(m),
      producer_(props, m, options_.exactly_once ? options_.transactional_id : std::string()),
      state_reader_(props, options_.state_topic),
      trades_in_(m.counter("cryptoflow_processor_trades_in_total", "Trades read")),
      late_(m.counter("cryptoflow_processor_late_trades_total", "Trades behind the watermark (to late-trades)")),
      dead_lettered_(m.counter("cryptoflow_processor_dead_lettered_total", "Records sent to the dead-letter topic")),
      finals_(m.counter("cryptoflow_processor_candles_out_total", "Candles emitted", {{"kind", "final"}})),
      updates_(m.counter("cryptoflow_processor_candles_out_total", "Candles emitted", {{"kind", "update"}})),
      indicators_out_(m.counter("cryptoflow_processor_indicators_out_total", "Moving averages emitted")),
      aborts_(m.counter("cryptoflow_processor_transactions_aborted_total", "Transactions aborted and rewound")),
      restores_(m.counter("cryptoflow_processor_partitions_restored_total", "Partitions whose state was restored")),
      watermark_(m.gauge("cryptoflow_processor_watermark_ms", "Current event-time watermark (ms since epoch)")),
      open_windows_(m.gauge("cryptoflow_processor_open_windows", "Candle windows held in memory")),
      state_bytes_(m.gauge("cryptoflow_processor_state_bytes", "Size of the committed state of all owned partitions")),
      commit_latency_(m.histogram("cryptoflow_processor_commit_latency_ms",
                                  "Outputs + state + offsets commit (transaction) time", latency_buckets_ms())),
      restore_time_(m.histogram("cryptoflow_processor_restore_ms", "Time to restore newly assigned partitions' state",
                                latency_buckets_ms())) {
  if (options_.exactly_once && options_.transactional_id.empty())
    throw ConfigError("TRANSACTIONAL_ID: empty, and exactly_once needs a stable id per instance");
  kafka::Consumer::Listener listener;
  listener.start_offsets = [this](const std::vector<kafka::TopicPartition>& parts) { return restore(parts); };
  listener.assigned = [this](const std::vector<kafka::TopicPartition>&) { ready_ = !error_; };
  listener.revoked = [this](const std::vector<kafka::TopicPartition>& parts) { on_revoked(parts); };
  consumer_ = std::make_unique<kafka::Consumer>(props, options_.group_id,
                                                std::vector<std::string>{options_.trades_topic}, listener);
}

void StreamProcessor::run(const std::function<bool()>& stop) {
  if (options_.exactly_once) producer_.init_transactions(kTxnTimeout);
  (void)producer_.warm_up({options_.candles_topic, options_.indicators_topic, options_.state_topic, options_.late_topic,
                           options_.dead_letter_topic},
                          std::chrono::seconds(10));
  nonce_ = new_nonce();
  auto last_tick = std::chrono::steady_clock::now();
  auto last_emit = last_tick;
  const bool updates_between = options_.update_interval.count() > 0;
  const int poll_ms =
      updates_between ? static_cast<int>(std::min<std::int64_t>(20, options_.update_interval.count())) : 20;
  while (!stop()) {
    auto m = consumer_->poll(poll_ms);
    rethrow_callback_error();
    if (m) handle(*m);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_tick >= options_.commit_interval) {
      tick();
      last_tick = last_emit = now;
    } else if (updates_between && now - last_emit >= options_.update_interval) {
      emit();
      last_emit = now;
    }
  }
  log_info("draining");
  tick();
  consumer_->close();  // revokes: commits what is left
  rethrow_callback_error();
}

void StreamProcessor::rethrow_callback_error() {
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

std::vector<kafka::Header> StreamProcessor::tag(std::int32_t partition) {
  if (options_.exactly_once && !in_txn_) {
    producer_.begin_transaction();
    in_txn_ = true;
    failed_at_begin_ = producer_.failed();
  }
  const auto it = committed_.find(partition);
  return {{kCommitHeader, commit_tag(partition, nonce_, (it == committed_.end() ? 0 : it->second.seq) + 1)}};
}

void StreamProcessor::handle(const rd_kafka_message_t& m) {
  const auto p = m.partition;
  if (!committed_.count(p)) return;  // not (or no longer) ours: its owner reads it
  next_offset_[p] = m.offset + 1;
  consumed_.insert(p);
  auto decoded = decode_trade(kafka::value_of(m));
  std::string error = decoded ? check_trade(*decoded.value) : decoded.error;
  if (error.empty() && decoded.value->trade_time > wall_clock_ms() + kMaxFutureMs)
    error = "field 'trade_time': more than a day in the future";
  AddResult added;
  if (error.empty()) {
    try {
      added = engine_.add(p, *decoded.value, wall_clock_ms());
    } catch (const std::overflow_error& e) {  // price x quantity or a window sum beyond 128 bits
      error = e.what();
    }
  }
  if (!error.empty()) {
    dead_lettered_.inc();
    bad_input_log_(LogLevel::warn, "bad trade record to dead-letter",
                   {{"error", error}, {"partition", p}, {"offset", static_cast<std::int64_t>(m.offset)}});
    kafka::send_to_dead_letter(producer_, options_.dead_letter_topic, m, error, tag(p));
    return;
  }
  trades_in_.inc();
  const auto& t = *decoded.value;
  if (added.late) {
    late_.inc();
    producer_.produce(options_.late_topic, kafka::key_of(m), kafka::value_of(m), t.trade_time, tag(p));
  }
}

void StreamProcessor::tick() {
  emit();
  commit();
}

void StreamProcessor::emit() {
  candles_.clear();
  indicators_.clear();
  engine_.close_windows(wall_clock_ms(), candles_, indicators_);
  const auto n_final = candles_.size();
  if (options_.live_updates) engine_.take_updates(candles_);
  for (std::size_t i = 0; i < candles_.size(); ++i) {
    const auto& [p, c] = candles_[i];
    producer_.produce(options_.candles_topic, candle_key(c), to_json(c), c.start, tag(p));
    (i < n_final ? finals_ : updates_).inc();
  }
  for (const auto& [p, ind] : indicators_) {
    producer_.produce(options_.indicators_topic, ind.symbol, to_json(ind), ind.end, tag(p));
    indicators_out_.inc();
  }
  watermark_.set(static_cast<double>(engine_.watermark()));
  open_windows_.set(static_cast<double>(engine_.open_windows()));
  const auto now = wall_clock_ms();
  for (const auto& [p, next] : next_offset_)
    if (const auto wm = engine_.partition_watermark(p))
      metrics_
          .gauge("cryptoflow_processor_watermark_lag_ms", "Wall clock minus the partition's watermark",
                 {{"partition", std::to_string(p)}})
          .set(static_cast<double>(now - *wm));
}

void StreamProcessor::commit() {
  std::set<std::int32_t> changed(consumed_.begin(), consumed_.end());
  for (auto p : engine_.take_changed_partitions()) changed.insert(p);
  std::erase_if(changed, [&](std::int32_t p) { return !committed_.count(p); });  // revoked meanwhile
  if (changed.empty() && !in_txn_) return;
  const auto started = std::chrono::steady_clock::now();
  try {
    if (!producer_.flush(std::chrono::seconds(30)))
      throw kafka::KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "outputs not acknowledged within 30 s");
    std::map<std::int32_t, StateRecord> pending;
    std::map<kafka::TopicPartition, std::int64_t> offsets;
    for (const auto p : changed) {
      auto headers = tag(p);
      StateRecord r{next_offset_.at(p), committed_[p].seq + 1, nonce_, engine_.snapshot(p)};
      producer_.produce(options_.state_topic, state_key(options_.group_id, options_.trades_topic, p), encode_state(r),
                        wall_clock_ms(), headers, state_reader_.state_partition(p));
      offsets[{options_.trades_topic, p}] = r.next_offset;
      pending.emplace(p, std::move(r));
    }
    // The state records go out only after every output is acknowledged (see docs/processing.md).
    if (!producer_.flush(std::chrono::seconds(30)))
      throw kafka::KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "state not acknowledged within 30 s");
    if (producer_.failed() > failed_at_begin_) {
      failed_at_begin_ = producer_.failed();
      throw kafka::KafkaError(RD_KAFKA_RESP_ERR__FAIL, "an output record could not be delivered", false);
    }
    if (options_.exactly_once) {
      producer_.send_offsets_to_transaction(*consumer_, offsets, kTxnTimeout);
      for (int attempt = 1;; ++attempt) {
        try {
          producer_.commit_transaction(kTxnTimeout);
          break;
        } catch (const kafka::KafkaError& e) {
          if (!e.is_retriable() || attempt == 5) throw;
          log_warn("transaction commit retried", {{"error", e.what()}, {"attempt", attempt}});
        }
      }
      in_txn_ = false;
    } else if (!consumer_->commit_offsets(offsets)) {
      log_warn("input offsets not committed; the state records hold them");
    }
    for (auto& [p, r] : pending) committed_[p] = std::move(r);
    consumed_.clear();
  } catch (const kafka::KafkaError& e) {
    if (!options_.exactly_once || e.is_fatal() ||
        !(e.requires_abort() || e.code() == RD_KAFKA_RESP_ERR__FAIL || e.code() == RD_KAFKA_RESP_ERR__TIMED_OUT))
      throw;
    log_warn("transaction aborted; rewinding to the last commit", {{"error", e.what()}});
    producer_.abort_transaction(kTxnTimeout);
    in_txn_ = false;
    rewind();
    return;
  }
  std::size_t bytes = 0;
  for (const auto& [p, c] : committed_) bytes += c.engine.size();
  state_bytes_.set(static_cast<double>(bytes));
  commit_latency_.observe(ms_since(started));
}

// After an abort: every owned partition goes back to its last committed state and offset.
void StreamProcessor::rewind() {
  aborts_.inc();
  std::map<kafka::TopicPartition, std::int64_t> offsets;
  for (const auto& [p, r] : committed_) {
    engine_.restore(p, r.engine, wall_clock_ms());
    next_offset_[p] = r.next_offset;
    offsets[{options_.trades_topic, p}] = r.next_offset;
  }
  (void)engine_.take_changed_partitions();
  consumed_.clear();
  nonce_ = new_nonce();  // the aborted transaction's tags must not match the next commit's
  consumer_->seek(offsets);
}

std::map<kafka::TopicPartition, std::int64_t> StreamProcessor::restore(
    const std::vector<kafka::TopicPartition>& parts) {
  std::map<kafka::TopicPartition, std::int64_t> offsets;
  if (error_) return offsets;
  ready_ = false;
  const auto started = std::chrono::steady_clock::now();
  try {
    std::vector<std::int32_t> ps;
    for (const auto& tp : parts) ps.push_back(tp.partition);
    auto records = state_reader_.read_latest(options_.group_id, options_.trades_topic, ps, std::chrono::seconds(60));
    const auto from_state = static_cast<int>(records.size());
    // Partitions without state start where the group's committed offset (or the log) starts.
    kafka::PartitionListPtr fresh(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
    for (const auto p : ps)
      if (!records.count(p)) rd_kafka_topic_partition_list_add(fresh.get(), options_.trades_topic.c_str(), p);
    if (fresh->cnt > 0) {
      if (const auto err = rd_kafka_committed(consumer_->handle(), fresh.get(), 30'000))
        throw kafka::KafkaError(err, std::string("committed offsets: ") + rd_kafka_err2str(err));
      for (int i = 0; i < fresh->cnt; ++i) {
        auto& e = fresh->elems[i];
        std::int64_t start = e.offset;
        if (start < 0) {
          std::int64_t low = 0, high = 0;
          if (const auto err =
                  rd_kafka_query_watermark_offsets(consumer_->handle(), e.topic, e.partition, &low, &high, 10'000))
            throw kafka::KafkaError(err, std::string("watermarks: ") + rd_kafka_err2str(err));
          start = low;
        }
        engine_.drop_partition(e.partition);
        records[e.partition] = StateRecord{start, 0, 0, engine_.snapshot(e.partition)};
      }
    }
    for (auto& [p, r] : records) {
      engine_.restore(p, r.engine, wall_clock_ms());
      next_offset_[p] = r.next_offset;
      offsets[{options_.trades_topic, p}] = r.next_offset;
      committed_[p] = std::move(r);
      restores_.inc();
    }
    (void)engine_.take_changed_partitions();
    restore_time_.observe(ms_since(started));
    log_info("state restored",
             {{"partitions", static_cast<int>(parts.size())}, {"from_state", from_state}, {"ms", ms_since(started)}});
  } catch (...) {
    error_ = std::current_exception();  // rethrown by run(): never through librdkafka's C frames
  }
  return offsets;
}

void StreamProcessor::on_revoked(const std::vector<kafka::TopicPartition>& parts) {
  try {
    if (!error_) commit();
  } catch (...) {
    error_ = std::current_exception();
  }
  for (const auto& tp : parts) {
    engine_.drop_partition(tp.partition);
    next_offset_.erase(tp.partition);
    committed_.erase(tp.partition);
    consumed_.erase(tp.partition);
  }
}

}  // namespace cryptoflow::processor
