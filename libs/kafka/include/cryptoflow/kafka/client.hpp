#pragma once
// The seams: what the processing loops need of Kafka, as interfaces. libs/kafka implements
// them over librdkafka (KafkaProducer, KafkaConsumer, KafkaReader); tests/support implements
// them in memory, so that commit, abort, rewind and revoke logic is tested without a broker.
//
// Every method that fails throws KafkaError (error.hpp); none returns a status to check.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/kafka/error.hpp"
#include "cryptoflow/kafka/record.hpp"

namespace cryptoflow::kafka {

class Producer {
 public:
  virtual ~Producer() = default;

  // Enqueues a copy of the message. While the local queue is full it serves delivery reports
  // and waits: the caller slows down, nothing is dropped.
  virtual void produce(const Message& message) = 0;
  // Serves delivery reports for up to `timeout`.
  virtual void poll(std::chrono::milliseconds timeout) = 0;
  // Waits until every message produced so far is acknowledged. Throws timed_out if some are
  // still in flight at the deadline, and, if any message produced since the previous flush
  // could not be delivered, abortable (transactional producer) or failed (the others).
  virtual void flush(std::chrono::milliseconds timeout) = 0;

  // Transactions (transactional producers only; the others throw `failed`). As in librdkafka's
  // transactions example: init once, then begin, produce, send offsets, commit or abort.
  virtual void init_transactions(std::chrono::milliseconds timeout) = 0;
  virtual void begin_transaction() = 0;
  // Commits these next offsets of the group as part of the transaction.
  virtual void send_offsets_to_transaction(const OffsetMap& next_offsets, const GroupMetadata& group,
                                           std::chrono::milliseconds timeout) = 0;
  virtual void commit_transaction(std::chrono::milliseconds timeout) = 0;
  virtual void abort_transaction(std::chrono::milliseconds timeout) = 0;
};

// What a consumer-group member is told when its assignment changes. Both run inside poll() or
// close(), on the polling thread. An exception thrown by either is rethrown by that poll() or
// close() once the consumer's own bookkeeping is done.
struct RebalanceListener {
  // Partitions newly assigned, before they are fetched; returns the offsets to start from.
  // Partitions left out start at the group's committed offset.
  std::function<OffsetMap(const std::vector<TopicPartition>&)> assigned;
  // Partitions about to go. lost: taken away without a clean hand-over (the session expired),
  // so another member may already own them: commit nothing for them.
  std::function<void(const std::vector<TopicPartition>&, bool lost)> revoked;
};

class Consumer {
 public:
  virtual ~Consumer() = default;

  // Joins the group for these topics. The listener stays until close().
  virtual void subscribe(const std::vector<std::string>& topics, RebalanceListener listener) = 0;
  // One record, or nothing within the timeout. Rebalances are served here.
  virtual std::optional<Record> poll(std::chrono::milliseconds timeout) = 0;
  // Commits these next offsets for the group, synchronously.
  virtual void commit(const OffsetMap& next_offsets) = 0;
  // The group's committed next offsets; partitions without one are left out.
  virtual OffsetMap committed(const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) = 0;
  // Moves the fetch positions of assigned partitions.
  virtual void seek(const OffsetMap& next_offsets) = 0;
  virtual void pause(const std::vector<TopicPartition>& partitions) = 0;
  virtual void resume(const std::vector<TopicPartition>& partitions) = 0;
  [[nodiscard]] virtual std::vector<TopicPartition> assignment() const = 0;
  // Records between the fetch position and the end of each assigned partition, from what the
  // consumer last heard (no round trip): all of them, and one partition's (0 if unknown).
  [[nodiscard]] virtual std::int64_t lag() const = 0;
  [[nodiscard]] virtual std::int64_t lag(const TopicPartition& partition) const = 0;
  virtual Watermarks watermarks(const TopicPartition& partition, std::chrono::milliseconds timeout) = 0;
  // For send_offsets_to_transaction.
  [[nodiscard]] virtual GroupMetadata group_metadata() const = 0;
  // Leaves the group: the listener's revoked() runs for what is still assigned, then the
  // listener is dropped. Idempotent.
  virtual void close() = 0;
};

// Reads partitions by offset, outside any group (read_committed).
class Reader {
 public:
  virtual ~Reader() = default;
  [[nodiscard]] virtual std::int32_t partition_count(const std::string& topic, std::chrono::milliseconds timeout) = 0;
  // The newest record with this key; nothing if none. Reads backwards from the end in growing
  // steps (a key's newest record is normally near the end) and gives up after a step whose
  // records are all older than not_before_ms (record timestamps; 0: search the whole
  // partition). Throws KafkaError (timed_out) at the timeout, Cancelled as soon as cancelled()
  // is true.
  virtual std::optional<Record> newest(const TopicPartition& partition, std::string_view key,
                                       std::int64_t not_before_ms, std::chrono::milliseconds timeout,
                                       const std::function<bool()>& cancelled) = 0;
  // Every record of the partition from its start (the low watermark) to its end as of the call,
  // in offset order, to each(). Throws KafkaError (timed_out) at the timeout, Cancelled once
  // cancelled() is true.
  virtual void scan(const TopicPartition& partition, const std::function<void(const Record&)>& each,
                    std::chrono::milliseconds timeout, const std::function<bool()>& cancelled) = 0;
};

}  // namespace cryptoflow::kafka
