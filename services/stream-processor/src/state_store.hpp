#pragma once
// The processor's state topic (docs/processing.md, "State"). Per input partition p and commit,
// in the same transaction as the outputs they explain and the input offsets they cover:
//   - one symbol record per symbol whose state changed (key <group>/<topic>/<p>/<symbol>, value
//     the engine's snapshot of that symbol, or empty once the symbol is evicted), and the
//     symbols due for a refresh;
//   - then the partition record (key <group>/<topic>/<p>): next input offset, commit sequence,
//     the writer's nonce and the partition-wide engine state. It is the transaction's last write.
// Each carries the header cryptoflow.commit = "<p>/<nonce>/<seq>".
//
// StateStore is the whole of it: the write half (what each commit writes of a partition, the
// refresh, the evictions, and the committed state it keeps to rewind to) next to the read half
// (StateAssembler, what a restore rebuilds).
//
// A restore reads the state partition from its start and keeps, for each symbol, its newest
// record that belongs to a committed transaction: one whose tag has a partition record (the
// embedded broker keeps records of aborted transactions), or, where compaction or retention
// removed the partition records of its writer, one before the first partition record left and
// no newer than the newest.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "candle_engine.hpp"
#include "cryptoflow/kafka/record.hpp"

namespace cryptoflow::processor {

struct PartitionRecord {
  std::int64_t next_offset = 0;  // next input offset to read
  std::int64_t seq = 0;          // +1 per commit of this partition
  std::uint64_t nonce = 0;       // the writing incarnation (new on each start and each abort)
  CandleEngine::PartitionMeta meta;
  std::int64_t symbols = 0;  // symbols with state after this commit
  friend bool operator==(const PartitionRecord&, const PartitionRecord&) = default;
};

std::string encode_partition_record(const PartitionRecord& r);
// nothing if the bytes are not a partition record.
std::optional<PartitionRecord> decode_partition_record(std::string_view bytes);

std::string partition_key(const std::string& group, const std::string& input_topic, std::int32_t partition);
std::string symbol_key(const std::string& group, const std::string& input_topic, std::int32_t partition,
                       const std::string& symbol);

// Header on every output record and on the state records of the same commit: "<partition>/
// <nonce>/<seq>". An output belongs to a committed transaction when the partition record with
// the same tag exists; readers of a broker without transaction markers can filter on it.
inline constexpr const char* kCommitHeader = "cryptoflow.commit";
std::string commit_tag(std::int32_t partition, std::uint64_t nonce, std::int64_t seq);
struct CommitTag {
  std::int32_t partition = 0;
  std::uint64_t nonce = 0;
  std::int64_t seq = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): a false positive on the defaulted <=>
  friend auto operator<=>(const CommitTag&, const CommitTag&) = default;
};
std::optional<CommitTag> parse_commit_tag(std::string_view tag);

// One input partition's state as read back from the state topic.
struct RestoredState {
  PartitionRecord partition;
  std::map<std::string, std::string> symbols;  // symbol -> snapshot
  // Bytes of this partition's state records read, in all and up to each symbol's record: where
  // each symbol stands in the log, for the refresh that keeps it within the broker's retention.
  std::int64_t bytes = 0;
  std::map<std::string, std::int64_t> written_at;
};

// Rebuilds one input partition's state from the records of its state partition, given in
// offset order (other partitions' records are skipped).
class StateAssembler {
 public:
  StateAssembler(const std::string& group, const std::string& input_topic, std::int32_t partition);
  void add(const kafka::Record& record);
  // Nothing if no partition record of this input partition was read.
  [[nodiscard]] std::optional<RestoredState> finish() const;
  [[nodiscard]] std::int64_t records() const { return records_; }

 private:
  struct SymbolRecord {
    std::int64_t offset;
    CommitTag tag;
    std::string symbol;
    std::string value;  // empty: evicted
    std::int64_t bytes_at;
  };
  std::string partition_key_;
  std::string symbol_prefix_;
  std::vector<SymbolRecord> symbols_;
  std::set<CommitTag> committed_;
  std::set<std::uint64_t> nonces_;  // of the partition records read
  std::optional<PartitionRecord> newest_;
  std::int64_t newest_offset_ = -1;
  std::int64_t first_offset_ = -1;  // of the first partition record read
  std::int64_t bytes_ = 0;
  std::int64_t records_ = 0;
};

// The state of the owned input partitions: what the state topic holds of each (as of its last
// commit), and the records a commit writes. Nothing it holds changes until the commit is known to
// have succeeded (committed()): after an abort, rewind() puts the engine back to it.
class StateStore {
 public:
  struct Options {
    std::string group, input_topic;
    std::int64_t evict_after_ms = 0;  // a symbol quiet this long (event time) is evicted (0: never)
    std::int64_t refresh_bytes = 0;   // every unchanged symbol rewritten within about this many bytes (0: never)
  };
  // One owned input partition.
  struct Partition {
    std::int64_t next_offset = 0;                           // processed: the next input offset to read
    PartitionRecord committed;                              // the last committed partition record
    std::map<std::string, std::string> symbols;             // the last committed state of each symbol
    std::int64_t state_bytes = 0;                           // bytes of this partition's state records so far
    std::map<std::string, std::int64_t> written_at;         // state_bytes at each symbol's last record
    std::set<std::pair<std::int64_t, std::string>> oldest;  // the same, by position: refresh order
    bool rewrite_all = false;                       // restored from another state partition: every symbol moves over
    std::int64_t evicted_at = CandleEngine::kNone;  // max trade time at the last eviction pass
  };
  // What a commit writes of one partition; committed() applies it.
  struct Pending {
    PartitionRecord record;
    std::map<std::string, std::string> written;
    std::map<std::string, std::int64_t> written_at;
    std::vector<std::string> evicted;
    std::int64_t state_bytes = 0;
    std::size_t refreshed = 0;  // unchanged symbols rewritten
  };
  // Hands one state record (key, value; an empty value is a tombstone) to the producer.
  using Write = std::function<void(const std::string& key, std::string_view value)>;

  StateStore(Options options, CandleEngine& engine) : options_(std::move(options)), engine_(engine) {}

  // A newly assigned partition, from the state read back (foreign: read from another state
  // partition, so every symbol moves over at the next commit); the engine gets it too. An
  // undecodable symbol is skipped (logged): it starts afresh.
  void restored(std::int32_t partition, RestoredState state, bool foreign, std::int64_t now_ms);
  // A newly assigned partition without state, read from next_offset.
  void fresh(std::int32_t partition, std::int64_t next_offset, std::int64_t now_ms);
  void forget(std::int32_t partition) { partitions_.erase(partition); }
  [[nodiscard]] bool owns(std::int32_t partition) const { return partitions_.count(partition) > 0; }
  [[nodiscard]] Partition& at(std::int32_t partition) { return partitions_.at(partition); }
  [[nodiscard]] const std::map<std::int32_t, Partition>& partitions() const { return partitions_; }

  // Writes partition p's records of this commit through `write`: each changed symbol, the
  // evicted ones' tombstones, the refresh's share, then the partition record (next offset, the
  // commit after the last, the writer's nonce) - the last write.
  [[nodiscard]] Pending write(std::int32_t p, std::uint64_t nonce, const Write& write);
  // The commit of these writes succeeded: they are the state now.
  void committed(std::map<std::int32_t, Pending>& pending);
  // After an abort: the engine back at every partition's last commit; the offsets to read from.
  [[nodiscard]] std::map<std::int32_t, std::int64_t> rewind(std::int64_t now_ms);
  // Bytes of the committed symbol states of all owned partitions.
  [[nodiscard]] std::size_t bytes() const;

 private:
  Options options_;
  CandleEngine& engine_;
  std::map<std::int32_t, Partition> partitions_;
};

}  // namespace cryptoflow::processor
