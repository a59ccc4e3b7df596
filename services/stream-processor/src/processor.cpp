#include "processor.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "cryptoflow/kafka/dead_letter.hpp"
#include "cryptoflow/runtime/clock.hpp"

namespace cryptoflow::processor {
namespace {

constexpr auto kFlushTimeout = std::chrono::seconds(30);

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// What is left until deadline, never negative.
std::chrono::milliseconds left(std::chrono::steady_clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
}

std::uint64_t new_nonce() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

// A state record, owned: it is produced after the outputs are acknowledged (maybe on the helper thread).
struct StateRecord {
  std::string key, value;
  std::int32_t partition = 0;
  std::int64_t timestamp = 0;
  std::vector<kafka::Header> headers;
};

// The rest of a commit, on the producer of its transaction: every output acknowledged, then the
// state records (the partition records last), acknowledged, then - with a group (exactly_once) -
// the offsets and the commit. The state records go out only after every output is acknowledged
// (see docs/processing.md). Runs on the helper thread when pipelined: it touches nothing else.
void complete(kafka::Producer& out, const std::vector<StateRecord>& records, const std::string& topic,
              const kafka::OffsetMap& offsets, const kafka::GroupMetadata* group, std::chrono::milliseconds timeout) {
  out.flush(kFlushTimeout);
  for (const auto& r : records)
    out.produce({.topic = topic,
                 .key = r.key,
                 .value = r.value,
                 .timestamp = r.timestamp,
                 .headers = r.headers,
                 .partition = r.partition});
  out.flush(kFlushTimeout);
  if (!group) return;
  out.send_offsets_to_transaction(offsets, *group, timeout);
  for (int attempt = 1;; ++attempt) {
    try {
      out.commit_transaction(timeout);
      return;
    } catch (const kafka::KafkaError& e) {
      if (!e.is_retriable() || attempt == 5) throw;
      log_warn("transaction commit retried", {{"error", e.what()}, {"attempt", attempt}});
    }
  }
}

// Errors after which the transaction is aborted and processing rewinds to the last commit.
bool recoverable(const kafka::KafkaError& e) {
  return e.requires_abort() || e.timed_out() || e.is_retriable();
}

}  // namespace

StreamProcessor::StreamProcessor(ProcessorOptions options, ProcessorClients clients, MetricsRegistry& m)
    : options_(std::move(options)),
      input_(clients.input),
      outputs_{&clients.output, clients.pipeline},
      state_(clients.state),
      engine_(options_.engine),
      store_({options_.group_id, options_.trades_topic, options_.evict_after_ms, options_.refresh_bytes}, engine_),
      metrics_(m),
      trades_in_(m.counter("cryptoflow_processor_trades_in_total", "Trades read")),
      late_(m.counter("cryptoflow_processor_late_trades_total", "Trades behind the watermark (to late-trades)")),
      duplicates_(m.counter("cryptoflow_processor_duplicate_trades_total",
                            "Trades whose id was seen already (a second producer, a resend): ignored")),
      dead_lettered_(m.counter("cryptoflow_processor_dead_lettered_total", "Records sent to the dead-letter topic")),
      finals_(m.counter("cryptoflow_processor_candles_out_total", "Candles emitted", {{"kind", "final"}})),
      updates_(m.counter("cryptoflow_processor_candles_out_total", "Candles emitted", {{"kind", "update"}})),
      indicators_out_(m.counter("cryptoflow_processor_indicators_out_total", "Moving averages emitted")),
      aborts_(m.counter("cryptoflow_processor_transactions_aborted_total", "Transactions aborted and rewound")),
      restores_(m.counter("cryptoflow_processor_partitions_restored_total", "Partitions whose state was restored")),
      watermark_(m.gauge("cryptoflow_processor_watermark_ms", "Current event-time watermark (ms since epoch)")),
      open_windows_(m.gauge("cryptoflow_processor_open_windows", "Candle windows held in memory")),
      state_bytes_(m.gauge("cryptoflow_processor_state_bytes", "Size of the committed state of all owned partitions")),
      state_written_(m.counter("cryptoflow_processor_state_bytes_written_total", "Bytes of state records written")),
      state_records_(m.counter("cryptoflow_processor_state_records_written_total", "State records written")),
      state_record_max_(m.gauge("cryptoflow_processor_state_record_max_bytes", "The largest state record written")),
      evicted_(m.counter("cryptoflow_processor_symbols_evicted_total", "Symbols evicted after STATE_EVICT_AFTER")),
      refreshed_(m.counter("cryptoflow_processor_symbols_refreshed_total",
                           "Unchanged symbols rewritten to stay within the state topic's retention")),
      commit_latency_(m.histogram("cryptoflow_processor_commit_latency_ms",
                                  "Outputs + state + offsets commit (transaction) time", latency_buckets_ms())),
      restore_time_(m.histogram("cryptoflow_processor_restore_ms", "Time to restore newly assigned partitions' state",
                                latency_buckets_ms())),
      scope_(
          input_, {options_.trades_topic},
          {.name = "stream processor",
           .start =
               [this] {
                 if (options_.exactly_once && !init_transactions(stop_)) return false;  // stopped before it started
                 nonce_ = new_nonce();
                 last_tick_ = last_emit_ = last_updates_ = std::chrono::steady_clock::now();
                 return true;
               },
           .assigned = [this](const std::vector<kafka::TopicPartition>& parts) { return restore(parts); },
           .revoked = [this](const std::vector<kafka::TopicPartition>& parts, bool lost) { on_revoked(parts, lost); },
           .step = [this] { return step(); },
           .drain =
               [this] {
                 log_info("draining");
                 tick(true);
               },
           .failed =
               [this] {
                 failed_ = true;  // the revocation leaving the group runs must not commit
                 ready_ = false;
               }}) {
  if (options_.exactly_once && options_.transactional_id.empty())
    throw std::invalid_argument("stream processor: exactly_once needs a transactional id");
  if (outputs_[1] && !options_.exactly_once)
    throw std::invalid_argument("stream processor: pipelined commits need exactly_once");
}

StreamProcessor::~StreamProcessor() {
  failed_ = true;  // a processor destroyed without having run: scope_'s close must not commit
}

void StreamProcessor::run(const std::function<bool()>& stop) {
  stop_ = stop;
  scope_.run(stop);
}

bool StreamProcessor::step() {
  const bool updates_between = options_.update_interval.count() > 0;
  const auto poll_timeout =
      std::chrono::milliseconds(updates_between ? std::min<std::int64_t>(20, options_.update_interval.count()) : 20);
  if (auto r = input_.poll(poll_timeout)) handle(*r);
  (void)settle(false);  // a commit in flight that is done
  const auto now = std::chrono::steady_clock::now();
  if (now - last_tick_ >= options_.commit_interval) {
    tick();
    last_tick_ = last_emit_ = now;
  } else if (updates_between && now - last_emit_ >= options_.update_interval) {
    emit();
    last_emit_ = now;
  }
  return true;
}

// In steps of a second, so that a stop request is honoured while the coordinator is slow to answer
// (librdkafka: a timed-out init_transactions may be called again).
bool StreamProcessor::init_transactions(const std::function<bool()>& stop) {
  const auto deadline = std::chrono::steady_clock::now() + options_.transaction_timeout;
  for (;;) {
    if (stop()) return false;
    try {
      for (auto* producer : outputs_)
        if (producer) producer->init_transactions(std::chrono::seconds(1));
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

void StreamProcessor::begin() {
  if (options_.exactly_once && !in_txn_) {
    out().begin_transaction();
    in_txn_ = true;
  }
}

std::vector<kafka::Header> StreamProcessor::tag(std::int32_t partition) const {
  auto seq = store_.owns(partition) ? store_.partitions().at(partition).committed.seq : 0;
  if (in_flight_)  // its commit comes first
    if (const auto it = in_flight_->pending.find(partition); it != in_flight_->pending.end())
      seq = it->second.record.seq;
  return {{kCommitHeader, commit_tag(partition, nonce_, seq + 1)}};
}

void StreamProcessor::handle(const kafka::Record& r) {
  const auto p = r.partition;
  if (!store_.owns(p)) return;  // not (or no longer) ours: its owner reads it
  store_.at(p).next_offset = r.offset + 1;
  consumed_.insert(p);
  auto decoded = decode_trade(r.value);
  std::string error = decoded ? check_trade(*decoded.value) : decoded.error;
  const auto now_ms = wall_clock_ms();  // one reading for the skew check, the marks and the engine
  if (error.empty() && decoded.value->trade_time > now_ms + options_.max_clock_skew_ms)
    error = "field 'trade_time': " + std::to_string(decoded.value->trade_time - now_ms) +
            " ms ahead of the clock (MAX_CLOCK_SKEW " + std::to_string(options_.max_clock_skew_ms) + " ms)";
  AddResult added;
  if (error.empty()) {
    // Between emits too: a loop held up (a slow commit) must not find waiting partitions idle.
    if (now_ms - waiting_marked_ms_ >= options_.engine.idle_timeout_ms / 4) mark_waiting(now_ms);
    try {
      added = engine_.add(p, *decoded.value, now_ms);
    } catch (const std::overflow_error& e) {  // price x quantity or a window sum beyond 128 bits
      error = e.what();
    }
  }
  if (!error.empty()) {
    dead_lettered_.inc();
    bad_input_log_(LogLevel::warn, "bad trade record to dead-letter",
                   {{"error", error}, {"partition", p}, {"offset", r.offset}});
    begin();
    kafka::send_to_dead_letter(out(), options_.dead_letter_topic, r, error, tag(p));
    return;
  }
  trades_in_.inc();
  if (added.duplicate) {
    duplicates_.inc();
    return;
  }
  if (added.late) {
    late_.inc();
    begin();
    const auto headers = tag(p);
    out().produce({.topic = options_.late_topic,
                   .key = r.key,
                   .value = r.value,
                   .timestamp = decoded.value->trade_time,
                   .headers = headers});
  }
}

void StreamProcessor::tick(bool wait) {
  emit();
  commit(wait);
}

void StreamProcessor::mark_waiting(std::int64_t now_ms) {
  for (const auto& [p, o] : store_.partitions())
    if (input_.lag({options_.trades_topic, p}) > 0) engine_.mark_waiting(p, now_ms);
  waiting_marked_ms_ = now_ms;
}

void StreamProcessor::emit() {
  candles_.clear();
  indicators_.clear();
  const auto now_ms = wall_clock_ms();
  mark_waiting(now_ms);
  engine_.close_windows(now_ms, candles_, indicators_);
  const auto n_final = candles_.size();
  if (const auto now = std::chrono::steady_clock::now();
      options_.live_updates && now - last_updates_ >= options_.live_update_interval) {
    engine_.take_updates(candles_);
    last_updates_ = now;
  }
  // One commit tag per partition for this flush (it changes only at a commit), and one JSON
  // buffer for every message (produce copies it): nothing allocated per message here.
  std::map<std::int32_t, std::vector<kafka::Header>> tags;
  const auto tag_of = [&](std::int32_t p) -> const std::vector<kafka::Header>& {
    auto it = tags.find(p);
    if (it == tags.end()) {
      begin();
      it = tags.emplace(p, tag(p)).first;
    }
    return it->second;
  };
  for (std::size_t i = 0; i < candles_.size(); ++i) {
    const auto& [p, c] = candles_[i];
    json_.clear();
    append_json(json_, c);
    out().produce({.topic = options_.candles_topic,
                   .key = candle_key(c),
                   .value = json_,
                   .timestamp = c.start,
                   .headers = tag_of(p)});
    (i < n_final ? finals_ : updates_).inc();
  }
  for (const auto& [p, ind] : indicators_) {
    json_.clear();
    append_json(json_, ind);
    out().produce({.topic = options_.indicators_topic,
                   .key = ind.symbol,
                   .value = json_,
                   .timestamp = ind.end,
                   .headers = tag_of(p)});
    indicators_out_.inc();
  }
  watermark_.set(static_cast<double>(engine_.watermark()));
  open_windows_.set(static_cast<double>(engine_.open_windows()));
  const auto now = wall_clock_ms();
  for (const auto& [p, o] : store_.partitions())
    if (const auto wm = engine_.partition_watermark(p))
      metrics_
          .gauge("cryptoflow_processor_watermark_lag_ms", "Wall clock minus the partition's watermark",
                 {{"partition", std::to_string(p)}})
          .set(static_cast<double>(now - *wm));
}

void StreamProcessor::commit(bool wait) {
  if (failed_ || !settle(true)) return;  // (a failed commit before this one rewound everything)
  std::set<std::int32_t> changed(consumed_.begin(), consumed_.end());
  for (auto p : engine_.take_changed_partitions()) changed.insert(p);
  std::erase_if(changed, [&](std::int32_t p) { return !store_.owns(p); });  // revoked meanwhile
  if (changed.empty() && !in_txn_) return;
  const auto started = std::chrono::steady_clock::now();
  std::map<std::int32_t, StateStore::Pending> pending;
  std::vector<StateRecord> records;
  kafka::OffsetMap offsets;
  try {
    begin();
    for (const auto p : changed) {
      auto headers = tag(p);
      const auto sp = state_partition(p);
      auto& w = pending[p] = store_.write(p, nonce_, [&](const std::string& key, std::string_view value) {
        records.push_back({key, std::string(value), sp, wall_clock_ms(), headers});
        const auto size = key.size() + value.size();
        state_written_.inc(size);
        state_records_.inc();
        if (static_cast<double>(size) > state_record_max_.value()) state_record_max_.set(static_cast<double>(size));
      });
      refreshed_.inc(w.refreshed);
      evicted_.inc(w.evicted.size());
      offsets[{options_.trades_topic, p}] = w.record.next_offset;
    }
    consumed_.clear();
    if (outputs_[1] && !wait) {  // the helper thread completes it; the loop goes on with the other producer
      auto* producer = &out();
      auto done = std::async(std::launch::async, [producer, records = std::move(records), offsets = std::move(offsets),
                                                  group = input_.group_metadata(), topic = options_.state_topic,
                                                  timeout = options_.transaction_timeout] {
        complete(*producer, records, topic, offsets, &group, timeout);
      });
      in_flight_ = InFlight{producer, std::move(pending), started, std::move(done)};
      current_ ^= 1;
      in_txn_ = false;
      return;
    }
    const auto group = input_.group_metadata();
    complete(out(), records, options_.state_topic, offsets, options_.exactly_once ? &group : nullptr,
             options_.transaction_timeout);
    in_txn_ = false;
    if (!options_.exactly_once) {
      try {
        input_.commit(offsets);
      } catch (const kafka::KafkaError& e) {
        log_warn("input offsets not committed; the state records hold them", {{"error", e.what()}});
      }
    }
  } catch (const kafka::KafkaError& e) {
    if (!options_.exactly_once || !recoverable(e)) throw;
    log_warn("transaction aborted; rewinding to the last commit", {{"error", e.what()}, {"kind", to_string(e.kind())}});
    out().abort_transaction(options_.transaction_timeout);
    in_txn_ = false;
    rewind();
    return;
  }
  committed(pending, started);
}

bool StreamProcessor::settle(bool wait) {
  if (!in_flight_ || (!wait && in_flight_->done.wait_for(std::chrono::seconds(0)) != std::future_status::ready))
    return true;
  auto f = std::move(*in_flight_);
  in_flight_.reset();
  try {
    f.done.get();
  } catch (const kafka::KafkaError& e) {
    if (!recoverable(e)) throw;
    log_warn("transaction aborted; rewinding to the last commit (and the open one built on it)",
             {{"error", e.what()}, {"kind", to_string(e.kind())}});
    f.producer->abort_transaction(options_.transaction_timeout);
    if (in_txn_) out().abort_transaction(options_.transaction_timeout);
    in_txn_ = false;
    rewind();
    return false;
  }
  committed(f.pending, f.started);
  return true;
}

void StreamProcessor::committed(std::map<std::int32_t, StateStore::Pending>& pending,
                                std::chrono::steady_clock::time_point started) {
  store_.committed(pending);
  state_bytes_.set(static_cast<double>(store_.bytes()));
  commit_latency_.observe(ms_since(started));
}

// After an abort: every owned partition goes back to its last committed state and offset.
void StreamProcessor::rewind() {
  aborts_.inc();
  kafka::OffsetMap offsets;
  for (const auto& [p, offset] : store_.rewind(wall_clock_ms())) offsets[{options_.trades_topic, p}] = offset;
  (void)engine_.take_changed_partitions();
  consumed_.clear();
  nonce_ = new_nonce();  // the aborted transaction's tags must not match the next commit's
  input_.seek(offsets);
}

// The partition's state from its state partition; where the state topic's partitions changed
// since it was written, from the one that holds it (foreign: then every symbol moves over).
std::optional<RestoredState> StreamProcessor::read_state(std::int32_t partition,
                                                         std::chrono::steady_clock::time_point deadline,
                                                         bool& foreign) {
  auto read = [&](std::int32_t sp) {
    StateAssembler assembler(options_.group_id, options_.trades_topic, partition);
    state_.scan(
        {options_.state_topic, sp}, [&](const kafka::Record& r) { assembler.add(r); }, left(deadline), stop_);
    return assembler.finish();
  };
  const auto home = state_partition(partition);
  foreign = false;
  if (auto found = read(home)) return found;
  for (std::int32_t sp = 0; sp < state_partitions_; ++sp) {
    if (sp == home) continue;
    if (auto found = read(sp)) {
      foreign = true;
      log_warn("state found in another state partition (the state topic's partition count changed); moving it",
               {{"partition", partition}, {"from", sp}, {"to", home}});
      return found;
    }
  }
  return std::nullopt;
}

kafka::OffsetMap StreamProcessor::restore(const std::vector<kafka::TopicPartition>& parts) {
  kafka::OffsetMap offsets;
  if (failed_) return offsets;
  ready_ = false;
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + options_.restore_timeout;
  int from_state = 0;
  std::vector<kafka::TopicPartition> fresh;
  for (const auto& tp : parts) {
    bool foreign = false;
    auto state = read_state(tp.partition, deadline, foreign);
    if (!state) {
      fresh.push_back(tp);
      continue;
    }
    ++from_state;
    store_.restored(tp.partition, std::move(*state), foreign, wall_clock_ms());
  }
  // Partitions without state start where the group's committed offset (or the log) starts.
  const auto committed = input_.committed(fresh, left(deadline));
  for (const auto& tp : fresh) {
    const auto it = committed.find(tp);
    store_.fresh(tp.partition, it != committed.end() ? it->second : input_.watermarks(tp, left(deadline)).low,
                 wall_clock_ms());
  }
  // A partition without state at home (new, never read, or moved by a change of the state
  // topic's partition count) gets its partition record at the next commit, even without input:
  // later restores then find it at home instead of searching the other state partitions.
  for (const auto& tp : fresh) consumed_.insert(tp.partition);
  for (const auto& [p, o] : store_.partitions())
    if (o.rewrite_all) consumed_.insert(p);
  for (const auto& tp : parts) {
    offsets[tp] = store_.at(tp.partition).next_offset;
    restores_.inc();
  }
  // Only these partitions' state is replaced: changes of the others since the last commit stay
  // marked (windows closed between commits must still reach their state record).
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
        self.store_.forget(tp.partition);
        self.consumed_.erase(tp.partition);
      }
    }
  } forget{*this, parts};
  if (lost) {
    // A commit in flight goes on (a real broker fences it by the group's generation); if it
    // failed, settle() rewound already.
    if (settle(true) && in_txn_) {
      out().abort_transaction(options_.transaction_timeout);
      in_txn_ = false;
      rewind();
    }
    return;
  }
  commit(true);
}

}  // namespace cryptoflow::processor
