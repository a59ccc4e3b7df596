#include "processor.hpp"

#include <algorithm>
#include <random>

#include "cryptoflow/clock.hpp"
#include "cryptoflow/kafka/dead_letter.hpp"

namespace cryptoflow::processor {
namespace {

constexpr auto kFlushTimeout = std::chrono::seconds(30);

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

std::uint64_t new_nonce() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

// Errors after which the transaction is aborted and processing rewinds to the last commit.
bool recoverable(const kafka::KafkaError& e) {
  return e.requires_abort() || e.timed_out() || e.is_retriable();
}

}  // namespace

StreamProcessor::StreamProcessor(ProcessorOptions options, ProcessorClients clients, MetricsRegistry& m)
    : options_(std::move(options)),
      input_(clients.input),
      output_(clients.output),
      state_(clients.state),
      engine_(options_.engine),
      metrics_(m),
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
    throw std::invalid_argument("stream processor: exactly_once needs a transactional id");
}

StreamProcessor::~StreamProcessor() {
  // run() leaves the group before it returns or throws; this covers a processor destroyed
  // without having run: no callback may reach it afterwards.
  try {
    failed_ = true;
    input_.close();
  } catch (...) {  // NOLINT(bugprone-empty-catch): closing a consumer that never joined
  }
}

void StreamProcessor::run(const std::function<bool()>& stop) {
  stop_ = stop;
  try {
    loop(stop);
  } catch (const kafka::Cancelled& e) {  // stopped while restoring: nothing to commit
    failed_ = true;
    ready_ = false;
    log_info("stopped while restoring partitions; nothing committed", {{"at", e.what()}});
    try {
      input_.close();
    } catch (const std::exception& close_error) {
      log_warn("leaving the group failed", {{"error", close_error.what()}});
    }
  } catch (const std::exception& e) {
    failed_ = true;  // the revocation that close() runs must not commit
    ready_ = false;
    log_error("stream processor stopping on an error; nothing more is committed", {{"error", e.what()}});
    try {
      input_.close();
    } catch (const std::exception& close_error) {
      log_warn("leaving the group after an error failed", {{"error", close_error.what()}});
    }
    throw;
  }
}

void StreamProcessor::loop(const std::function<bool()>& stop) {
  kafka::RebalanceListener listener;
  listener.assigned = [this](const std::vector<kafka::TopicPartition>& parts) { return restore(parts); };
  listener.revoked = [this](const std::vector<kafka::TopicPartition>& parts, bool lost) { on_revoked(parts, lost); };
  if (options_.exactly_once && !init_transactions(stop)) return;  // stopped before it started
  input_.subscribe({options_.trades_topic}, std::move(listener));
  nonce_ = new_nonce();
  auto last_tick = std::chrono::steady_clock::now();
  auto last_emit = last_tick;
  const bool updates_between = options_.update_interval.count() > 0;
  const auto poll_timeout =
      std::chrono::milliseconds(updates_between ? std::min<std::int64_t>(20, options_.update_interval.count()) : 20);
  while (!stop()) {
    if (auto r = input_.poll(poll_timeout)) handle(*r);
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
  input_.close();  // revokes: commits what is left
}

// In steps of a second, so that a stop request is honoured while the coordinator is slow to answer
// (librdkafka: a timed-out init_transactions may be called again).
bool StreamProcessor::init_transactions(const std::function<bool()>& stop) {
  const auto deadline = std::chrono::steady_clock::now() + options_.transaction_timeout;
  for (;;) {
    if (stop()) return false;
    try {
      output_.init_transactions(std::chrono::seconds(1));
      return true;
    } catch (const kafka::KafkaError& e) {
      if (!(e.timed_out() || e.is_retriable()) || std::chrono::steady_clock::now() >= deadline) throw;
    }
  }
}

std::int32_t StreamProcessor::state_partition(std::int32_t input_partition) {
  if (state_partitions_ == 0)
    state_partitions_ = state_.partition_count(options_.state_topic, std::chrono::seconds(10));
  return input_partition % state_partitions_;
}

std::vector<kafka::Header> StreamProcessor::tag(std::int32_t partition) {
  if (options_.exactly_once && !in_txn_) {
    output_.begin_transaction();
    in_txn_ = true;
  }
  const auto it = committed_.find(partition);
  return {{kCommitHeader, commit_tag(partition, nonce_, (it == committed_.end() ? 0 : it->second.seq) + 1)}};
}

void StreamProcessor::handle(const kafka::Record& r) {
  const auto p = r.partition;
  if (!committed_.count(p)) return;  // not (or no longer) ours: its owner reads it
  next_offset_[p] = r.offset + 1;
  consumed_.insert(p);
  auto decoded = decode_trade(r.value);
  std::string error = decoded ? check_trade(*decoded.value) : decoded.error;
  if (error.empty() && decoded.value->trade_time > wall_clock_ms() + options_.max_clock_skew_ms)
    error = "field 'trade_time': " + std::to_string(decoded.value->trade_time - wall_clock_ms()) +
            " ms ahead of the clock (MAX_CLOCK_SKEW " + std::to_string(options_.max_clock_skew_ms) + " ms)";
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
                   {{"error", error}, {"partition", p}, {"offset", r.offset}});
    kafka::send_to_dead_letter(output_, options_.dead_letter_topic, r, error, tag(p));
    return;
  }
  trades_in_.inc();
  if (added.late) {
    late_.inc();
    const auto headers = tag(p);
    output_.produce({.topic = options_.late_topic,
                     .key = r.key,
                     .value = r.value,
                     .timestamp = decoded.value->trade_time,
                     .headers = headers});
  }
}

void StreamProcessor::tick() {
  emit();
  commit();
}

void StreamProcessor::emit() {
  candles_.clear();
  indicators_.clear();
  const auto now_ms = wall_clock_ms();
  // A partition with records waiting (lagging, or its leader away) is not idle: its backlog
  // must not become late because the others moved on.
  for (const auto& [p, next] : next_offset_)
    if (input_.lag({options_.trades_topic, p}) > 0) engine_.mark_waiting(p, now_ms);
  engine_.close_windows(now_ms, candles_, indicators_);
  const auto n_final = candles_.size();
  if (options_.live_updates) engine_.take_updates(candles_);
  for (std::size_t i = 0; i < candles_.size(); ++i) {
    const auto& [p, c] = candles_[i];
    const auto headers = tag(p);
    output_.produce({.topic = options_.candles_topic,
                     .key = candle_key(c),
                     .value = to_json(c),
                     .timestamp = c.start,
                     .headers = headers});
    (i < n_final ? finals_ : updates_).inc();
  }
  for (const auto& [p, ind] : indicators_) {
    const auto headers = tag(p);
    output_.produce({.topic = options_.indicators_topic,
                     .key = ind.symbol,
                     .value = to_json(ind),
                     .timestamp = ind.end,
                     .headers = headers});
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
  if (failed_) return;
  std::set<std::int32_t> changed(consumed_.begin(), consumed_.end());
  for (auto p : engine_.take_changed_partitions()) changed.insert(p);
  std::erase_if(changed, [&](std::int32_t p) { return !committed_.count(p); });  // revoked meanwhile
  if (changed.empty() && !in_txn_) return;
  const auto started = std::chrono::steady_clock::now();
  try {
    output_.flush(kFlushTimeout);
    std::map<std::int32_t, StateRecord> pending;
    kafka::OffsetMap offsets;
    for (const auto p : changed) {
      const auto headers = tag(p);
      StateRecord r{next_offset_.at(p), committed_[p].seq + 1, nonce_, engine_.snapshot(p)};
      const auto key = state_key(options_.group_id, options_.trades_topic, p);
      const auto value = encode_state(r);
      output_.produce({.topic = options_.state_topic,
                       .key = key,
                       .value = value,
                       .timestamp = wall_clock_ms(),
                       .headers = headers,
                       .partition = state_partition(p)});
      offsets[{options_.trades_topic, p}] = r.next_offset;
      pending.emplace(p, std::move(r));
    }
    // The state records go out only after every output is acknowledged (see docs/processing.md).
    output_.flush(kFlushTimeout);
    if (options_.exactly_once) {
      output_.send_offsets_to_transaction(offsets, input_.group_metadata(), options_.transaction_timeout);
      for (int attempt = 1;; ++attempt) {
        try {
          output_.commit_transaction(options_.transaction_timeout);
          break;
        } catch (const kafka::KafkaError& e) {
          if (!e.is_retriable() || attempt == 5) throw;
          log_warn("transaction commit retried", {{"error", e.what()}, {"attempt", attempt}});
        }
      }
      in_txn_ = false;
    } else {
      try {
        input_.commit(offsets);
      } catch (const kafka::KafkaError& e) {
        log_warn("input offsets not committed; the state records hold them", {{"error", e.what()}});
      }
    }
    for (auto& [p, r] : pending) committed_[p] = std::move(r);
    consumed_.clear();
  } catch (const kafka::KafkaError& e) {
    if (!options_.exactly_once || !recoverable(e)) throw;
    log_warn("transaction aborted; rewinding to the last commit", {{"error", e.what()}, {"kind", to_string(e.kind())}});
    output_.abort_transaction(options_.transaction_timeout);
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
  kafka::OffsetMap offsets;
  for (const auto& [p, r] : committed_) {
    engine_.restore(p, r.engine, wall_clock_ms());
    next_offset_[p] = r.next_offset;
    offsets[{options_.trades_topic, p}] = r.next_offset;
  }
  (void)engine_.take_changed_partitions();
  consumed_.clear();
  nonce_ = new_nonce();  // the aborted transaction's tags must not match the next commit's
  input_.seek(offsets);
}

kafka::OffsetMap StreamProcessor::restore(const std::vector<kafka::TopicPartition>& parts) {
  kafka::OffsetMap offsets;
  if (failed_) return offsets;
  ready_ = false;
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + options_.restore_timeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
  };
  std::map<std::int32_t, StateRecord> records;
  std::vector<kafka::TopicPartition> fresh;
  for (const auto& tp : parts) {
    const auto key = state_key(options_.group_id, options_.trades_topic, tp.partition);
    const kafka::TopicPartition stp{options_.state_topic, state_partition(tp.partition)};
    std::optional<StateRecord> found;
    if (auto r = state_.newest(stp, key, 0, left(), stop_)) {
      found = decode_state(r->value);
      if (!found)
        log_error("undecodable state record; the partition starts from its committed offset",
                  {{"key", key}, {"offset", r->offset}});
    }
    if (found)
      records.emplace(tp.partition, std::move(*found));
    else
      fresh.push_back(tp);
  }
  const auto from_state = static_cast<int>(records.size());
  // Partitions without state start where the group's committed offset (or the log) starts.
  const auto committed = input_.committed(fresh, left());
  for (const auto& tp : fresh) {
    const auto it = committed.find(tp);
    const auto start = it != committed.end() ? it->second : input_.watermarks(tp, left()).low;
    engine_.drop_partition(tp.partition);
    records[tp.partition] = StateRecord{start, 0, 0, engine_.snapshot(tp.partition)};
  }
  // Only these partitions' state is replaced: changes of the others since the last commit stay
  // marked (windows closed between commits must still reach their state record).
  for (auto& [p, r] : records) {
    engine_.restore(p, r.engine, wall_clock_ms());
    next_offset_[p] = r.next_offset;
    offsets[{options_.trades_topic, p}] = r.next_offset;
    committed_[p] = std::move(r);
    restores_.inc();
  }
  restore_time_.observe(ms_since(started));
  ready_ = true;
  log_info("state restored",
           {{"partitions", static_cast<int>(parts.size())}, {"from_state", from_state}, {"ms", ms_since(started)}});
  return offsets;
}

void StreamProcessor::on_revoked(const std::vector<kafka::TopicPartition>& parts, bool lost) {
  // A clean hand-over commits what the partitions produced; a lost one must not (another
  // member may own them already), and neither may anything after an error.
  struct Forget {
    StreamProcessor& self;
    const std::vector<kafka::TopicPartition>& parts;
    ~Forget() {
      for (const auto& tp : parts) {
        self.engine_.drop_partition(tp.partition);
        self.next_offset_.erase(tp.partition);
        self.committed_.erase(tp.partition);
        self.consumed_.erase(tp.partition);
      }
    }
  } forget{*this, parts};
  if (lost) {
    if (in_txn_) {
      output_.abort_transaction(options_.transaction_timeout);
      in_txn_ = false;
      rewind();
    }
    return;
  }
  commit();
}

}  // namespace cryptoflow::processor
