#pragma once
// In-memory implementations of libs/kafka's interfaces (client.hpp), for unit tests of the
// processing loops without a broker: a FakeCluster holds topics, transactions and group offsets
// as Kafka does; FakeProducer, FakeConsumer and FakeReader act on it. Tests script what
// librdkafka would do (assignments, revocations) and inject the failures that matter (a fenced
// producer, an abortable commit, a flush timeout, an undeliverable record), then assert what a
// read_committed reader sees and what the group committed.
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cryptoflow/kafka/client.hpp"

namespace cryptoflow::test {

class FakeCluster {
 public:
  void create_topic(const std::string& name, std::int32_t partitions);
  [[nodiscard]] std::int32_t partitions(const std::string& topic) const;
  // The partition a key goes to (a stable hash, like Kafka's default partitioner).
  [[nodiscard]] std::int32_t partition_for(const std::string& topic, std::string_view key) const;

  // Like the embedded broker's: the oldest records of a partition go once its records take more
  // than this many bytes (key + value), and its low watermark moves. 0: kept for ever.
  void set_retention_bytes(const std::string& topic, std::size_t bytes);

  // Appends a committed record (a producer outside any transaction); returns its offset.
  std::int64_t append(const std::string& topic, std::string_view key, std::string_view value,
                      std::int64_t timestamp = 0, std::optional<std::int32_t> partition = {},
                      const std::vector<kafka::Header>& headers = {});

  // What a read_committed reader sees: records of committed transactions and non-transactional
  // ones, up to the first record of a transaction still open. Every partition, in order.
  [[nodiscard]] std::vector<kafka::Record> committed_records(const std::string& topic) const;
  [[nodiscard]] std::vector<kafka::Record> committed_records(const kafka::TopicPartition& tp) const;
  // Everything written, aborted and open transactions included (what read_uncommitted sees).
  [[nodiscard]] std::size_t written(const std::string& topic) const;
  [[nodiscard]] kafka::OffsetMap group_offsets(const std::string& group) const;
  [[nodiscard]] kafka::Watermarks watermarks(const kafka::TopicPartition& tp) const;

  // Used by the fakes.
  struct Stored {
    kafka::Record record;
    std::uint64_t txn = 0;  // 0: not transactional
  };
  std::uint64_t open_transaction();
  std::int64_t append_in(std::uint64_t txn, const kafka::Message& m);
  void add_offsets(std::uint64_t txn, const std::string& group, const kafka::OffsetMap& offsets);
  void end_transaction(std::uint64_t txn, bool commit);
  void commit_offsets(const std::string& group, const kafka::OffsetMap& offsets);
  // The record at offset if a read_committed reader may see it; nothing at the end or behind
  // an open transaction (skips aborted records).
  std::optional<kafka::Record> read_committed(const kafka::TopicPartition& tp, std::int64_t& offset) const;

 private:
  // Per topic, per partition: the records kept, the first at offset `base`.
  struct Log {
    std::vector<Stored> records;
    std::int64_t base = 0;
    std::size_t bytes = 0;
  };
  bool visible(const Stored& s) const;
  Log& log(const kafka::TopicPartition& tp);
  [[nodiscard]] const Log& log(const kafka::TopicPartition& tp) const;
  mutable std::recursive_mutex mu_;
  void apply_retention(const kafka::TopicPartition& tp);
  std::map<std::string, std::vector<Log>> topics_;
  std::map<std::string, std::size_t> retention_;
  std::map<std::string, kafka::OffsetMap> groups_;
  std::uint64_t next_txn_ = 1;
  std::set<std::uint64_t> open_, aborted_;
  std::map<std::uint64_t, std::map<std::string, kafka::OffsetMap>> txn_offsets_;
};

class FakeProducer final : public kafka::Producer {
 public:
  FakeProducer(FakeCluster& cluster, bool transactional) : cluster_(cluster), transactional_(transactional) {}

  void produce(const kafka::Message& m) override;
  void poll(std::chrono::milliseconds) override {}
  void flush(std::chrono::milliseconds timeout) override;
  void init_transactions(std::chrono::milliseconds) override;
  void begin_transaction() override;
  void send_offsets_to_transaction(const kafka::OffsetMap& offsets, const kafka::GroupMetadata& group,
                                   std::chrono::milliseconds) override;
  void commit_transaction(std::chrono::milliseconds) override;
  void abort_transaction(std::chrono::milliseconds) override;

  // Failures to inject.
  std::function<bool(const kafka::Message&)> fail_delivery;  // true: the message is lost; flush() says so
  int flush_timeouts = 0;                                    // the next N flushes time out
  std::optional<kafka::ErrorKind> fail_next_commit;          // commit_transaction throws this once
  // A newer instance took the transactional id: its init_transactions aborts what this one had
  // open, and every later call of this one throws fatal (PRODUCER_FENCED).
  void fence();
  std::function<void()> before_commit;  // runs at the start of commit_transaction

  [[nodiscard]] int commits() const { return commits_; }
  [[nodiscard]] int aborts() const { return aborts_; }
  [[nodiscard]] int flushes() const { return flushes_; }

 private:
  void check_fenced(const char* what) const;
  FakeCluster& cluster_;
  bool transactional_;
  bool initialized_ = false;
  bool fenced_ = false;
  std::uint64_t txn_ = 0;  // open transaction, 0 if none
  bool must_abort_ = false;
  int undelivered_ = 0;
  // Read by tests while a pipelined processor's helper thread commits.
  std::atomic<int> commits_{0}, aborts_{0}, flushes_{0};
};

class FakeConsumer final : public kafka::Consumer {
 public:
  FakeConsumer(FakeCluster& cluster, std::string group) : cluster_(cluster), group_(std::move(group)) {}
  ~FakeConsumer() override;

  // Scripted rebalances: delivered to the listener by the next poll(), as librdkafka does.
  void assign(const std::vector<kafka::TopicPartition>& partitions);
  void revoke(const std::vector<kafka::TopicPartition>& partitions, bool lost = false);
  // Every partition of the subscribed topics (as subscribed by then), at the next poll().
  void assign_all();

  void subscribe(const std::vector<std::string>& topics, kafka::RebalanceListener listener) override;
  std::optional<kafka::Record> poll(std::chrono::milliseconds timeout) override;
  void commit(const kafka::OffsetMap& offsets) override;
  kafka::OffsetMap committed(const std::vector<kafka::TopicPartition>& partitions, std::chrono::milliseconds) override;
  void seek(const kafka::OffsetMap& offsets) override;
  void pause(const std::vector<kafka::TopicPartition>& partitions) override;
  void resume(const std::vector<kafka::TopicPartition>& partitions) override;
  [[nodiscard]] std::vector<kafka::TopicPartition> assignment() const override;
  [[nodiscard]] std::int64_t lag() const override;
  [[nodiscard]] std::int64_t lag(const kafka::TopicPartition& tp) const override;
  kafka::Watermarks watermarks(const kafka::TopicPartition& tp, std::chrono::milliseconds) override;
  [[nodiscard]] kafka::GroupMetadata group_metadata() const override { return {group_, nullptr}; }
  void close() override;

  std::optional<kafka::ErrorKind> fail_next_commit;
  [[nodiscard]] bool closed() const { return closed_; }
  [[nodiscard]] bool paused(const kafka::TopicPartition& tp) const { return paused_.count(tp) > 0; }
  [[nodiscard]] bool idle() const;  // nothing queued and every assigned partition read to its end

 private:
  struct Event {
    bool assign;
    std::vector<kafka::TopicPartition> partitions;  // all of the subscription when empty
    bool lost;
  };
  void deliver_events();
  FakeCluster& cluster_;
  std::string group_;
  std::vector<std::string> topics_;
  kafka::RebalanceListener listener_;
  std::deque<Event> events_;
  std::map<kafka::TopicPartition, std::int64_t> position_;  // the assignment and where each is read
  std::set<kafka::TopicPartition> paused_;
  std::size_t next_ = 0;  // round robin over partitions
  bool closed_ = false;
};

class FakeReader final : public kafka::Reader {
 public:
  explicit FakeReader(FakeCluster& cluster) : cluster_(cluster) {}
  std::int32_t partition_count(const std::string& topic, std::chrono::milliseconds) override;
  std::optional<kafka::Record> newest(const kafka::TopicPartition& tp, std::string_view key, std::int64_t not_before_ms,
                                      std::chrono::milliseconds, const std::function<bool()>& cancelled) override;
  void scan(const kafka::TopicPartition& tp, const std::function<void(const kafka::Record&)>& each,
            std::chrono::milliseconds, const std::function<bool()>& cancelled) override;
  std::function<void(const kafka::TopicPartition&)> on_newest;  // runs first (may throw)
  std::function<void(const kafka::TopicPartition&)> on_scan;    // runs first (may throw)
  [[nodiscard]] int lookups() const { return lookups_; }
  [[nodiscard]] int scans() const { return scans_; }

 private:
  FakeCluster& cluster_;
  int lookups_ = 0;
  int scans_ = 0;
};

}  // namespace cryptoflow::test
