#pragma once
// The stream processor's loop: trades in; candles (final and live updates), moving averages and
// late trades out; undecodable records to the dead-letter topic.
//
// Every commit interval it writes, in this order: the outputs, then for each input partition
// that changed a record per symbol whose state changed (and per symbol due for a refresh or
// evicted) and the partition record (next input offset, partition-wide state), then the input
// offsets (state_store.hpp). exactly_once does all of it in one Kafka transaction
// (read_committed in, transactional out, offsets via send_offsets_to_transaction);
// at_least_once the same without a transaction. A partition's state is restored from the state
// topic when it is assigned, before it is read; processing resumes at the offset saved with it.
//
// Pipelined commits (exactly_once with a second transactional producer): a commit's state records
// are computed on the loop's thread, and the rest of it - waiting for the outputs, writing the
// state, the offsets and the commit itself - runs on a helper thread while the loop goes on
// reading into a transaction of the other producer. At most one commit is in flight: the next
// one waits for it, so transactions commit in order, and if it fails, the open transaction (built
// on its state) is aborted too and everything rewinds to the last commit (docs/processing.md).
//
// Failures (docs/processing.md): an abortable error, a flush that times out or an output that
// could not be delivered aborts the transaction and rewinds every owned partition to its last
// commit; a fatal error (fenced by a newer instance) or any other error ends run() with that
// error, after which nothing is committed (the consumer leaves the group without committing).
//
// The Kafka clients are passed in (libs/kafka's interfaces): the service wires real ones, the
// unit tests in-memory fakes.
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "candle_engine.hpp"
#include "cryptoflow/kafka/client.hpp"
#include "cryptoflow/kafka/consumer_scope.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "cryptoflow/runtime/metrics.hpp"
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
  bool live_updates = true;  // emit final=false updates of open windows
  // Live updates at their own cadence: each open window that changed is emitted at most once per
  // this interval (0: at every emit - each commit, or UPDATE_INTERVAL_MS). Coalesced per window,
  // so they grow with symbols x cadence, not with trades.
  std::chrono::milliseconds live_update_interval{1000};
  std::chrono::milliseconds transaction_timeout{60'000};  // each transactional call's limit
  std::chrono::milliseconds restore_timeout{60'000};      // reading a partition's state on assignment
  // A trade stamped further ahead of the wall clock goes to dead-letter: one bad clock must not
  // move the watermark (it would close hours of windows early and make every later trade late).
  std::int64_t max_clock_skew_ms = 300'000;
  // State: a symbol quiet this long (event time) is evicted (0: never). Unchanged symbols are
  // rewritten ("refreshed") in proportion to what each commit writes, the oldest first, so that
  // all of them are rewritten within about refresh_bytes of state writes (0: never, for a
  // compacted state topic): a broker that keeps only the newest bytes of a partition (the
  // embedded one keeps ~5 MB) keeps every symbol's record if it keeps refresh_bytes plus the
  // live state.
  std::int64_t evict_after_ms = 86'400'000;
  std::int64_t refresh_bytes = std::int64_t{2} * 1024 * 1024;
};

// The Kafka clients the processor uses. output is transactional for exactly_once.
struct ProcessorClients {
  kafka::Consumer& input;  // the trades, as a member of options.group_id
  kafka::Producer& output;
  kafka::Reader& state;  // the state topic, outside the group
  // exactly_once: a second transactional producer (its own transactional id) pipelines the
  // commits; none: each commit stops the loop until it is done.
  kafka::Producer* pipeline = nullptr;
};

class StreamProcessor {
 public:
  StreamProcessor(ProcessorOptions options, ProcessorClients clients, MetricsRegistry& metrics);
  ~StreamProcessor();
  StreamProcessor(const StreamProcessor&) = delete;
  StreamProcessor& operator=(const StreamProcessor&) = delete;
  // Subscribes, then processes until stop() is true; then emits what is due, commits, and
  // leaves the group. Throws what it cannot recover from, after leaving the group.
  void run(const std::function<bool()>& stop);
  [[nodiscard]] bool ready() const { return ready_.load(); }

 private:
  bool step();  // one turn of the loop: a record, and the emit or commit that is due
  bool init_transactions(const std::function<bool()>& stop);
  void handle(const kafka::Record& r);
  void tick(bool wait = false);
  // A partition with records waiting (lagging, or its leader away) is not idle: its backlog must
  // not become late because the others moved on. Marked at every emit, and before a trade is
  // added once a quarter of the idle timeout passed since (the loop may have been held up).
  void mark_waiting(std::int64_t now_ms);
  void emit();
  // Writes what changed since the last commit and commits it: hands it to the helper thread
  // when pipelined (unless wait), else completes it here.
  void commit(bool wait);
  // Waits for the commit in flight (if wait, or if it is done) and makes its state the committed
  // one. False if it failed and everything was rewound to the commit before it.
  bool settle(bool wait);
  // A commit succeeded: its writes are the committed state.
  void committed(std::map<std::int32_t, StateStore::Pending>& pending, std::chrono::steady_clock::time_point started);
  void rewind();
  kafka::OffsetMap restore(const std::vector<kafka::TopicPartition>& parts);
  std::optional<RestoredState> read_state(std::int32_t partition, std::chrono::steady_clock::time_point deadline,
                                          bool& foreign);
  void on_revoked(const std::vector<kafka::TopicPartition>& parts, bool lost);
  // exactly_once: starts the transaction if none is open - before anything is produced.
  void begin();
  // The producer of the open transaction (pipelined: the two take turns).
  kafka::Producer& out() { return *outputs_[current_]; }
  // The header of every record partition's next commit writes (commit_tag).
  [[nodiscard]] std::vector<kafka::Header> tag(std::int32_t partition) const;
  std::int32_t state_partition(std::int32_t input_partition);

  ProcessorOptions options_;
  kafka::Consumer& input_;
  std::array<kafka::Producer*, 2> outputs_;  // [1] is null unless pipelined
  std::size_t current_ = 0;
  kafka::Reader& state_;
  std::set<std::int32_t> consumed_;  // partitions read since the last commit
  CandleEngine engine_;
  StateStore store_;  // the owned partitions and their state (after the engine it writes into)
  std::int32_t state_partitions_ = 0;
  std::uint64_t nonce_ = 0;
  bool in_txn_ = false;
  bool failed_ = false;         // an error ends run(): nothing may be committed any more
  std::function<bool()> stop_;  // run()'s: a restore gives up when it turns true
  std::vector<FromPartition<Candle>> candles_;
  std::vector<FromPartition<Indicator>> indicators_;
  std::string json_;  // the message being produced (reused)
  std::atomic<bool> ready_{false};
  struct InFlight {  // a commit the helper thread completes
    kafka::Producer* producer;
    std::map<std::int32_t, StateStore::Pending> pending;
    std::chrono::steady_clock::time_point started;
    std::future<void> done;
  };
  std::optional<InFlight> in_flight_;
  MetricsRegistry& metrics_;
  Counter& trades_in_;
  Counter& late_;
  Counter& duplicates_;
  Counter& dead_lettered_;
  Counter& finals_;
  Counter& updates_;
  Counter& indicators_out_;
  Counter& aborts_;
  Counter& restores_;
  Gauge& watermark_;
  Gauge& open_windows_;
  Gauge& state_bytes_;
  Counter& state_written_;
  Counter& state_records_;
  Gauge& state_record_max_;
  Counter& evicted_;
  Counter& refreshed_;
  Histogram& commit_latency_;
  Histogram& restore_time_;
  RateLimitedLog bad_input_log_;
  std::chrono::steady_clock::time_point last_tick_, last_emit_, last_updates_;
  std::int64_t waiting_marked_ms_ = 0;
  kafka::ConsumerScope scope_;  // last: it closes the consumer first, while what its callbacks use is there
};

}  // namespace cryptoflow::processor
