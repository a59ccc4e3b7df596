#pragma once
// RAII over librdkafka: every C handle lives in a unique_ptr with its own deleter.
//   Producer  idempotent, acks=all; a full local queue waits (never drops); delivery reports
//             counted; flush on close; fatal errors surface as KafkaError.
//   Consumer  consumer group, manual commits of what was processed, cooperative-sticky
//             rebalancing with incremental assign, read_committed.
//   ensure_topics  creates missing topics; a broker without CreateTopics gets a warning.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cryptoflow/config.hpp"
#include "cryptoflow/metrics.hpp"

namespace cryptoflow::kafka {

struct HandleDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* p) const { rd_kafka_topic_partition_list_destroy(p); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* p) const { rd_kafka_headers_destroy(p); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

class KafkaError : public std::runtime_error {
 public:
  KafkaError(rd_kafka_resp_err_t code, const std::string& what, bool fatal = false)
      : std::runtime_error(what), code_(code), fatal_(fatal) {}
  // From a librdkafka error object (transactions API): keeps its fatal / retriable /
  // txn_requires_abort classification. Takes ownership of `error`.
  static KafkaError from(rd_kafka_error_t* error, const std::string& context);
  [[nodiscard]] rd_kafka_resp_err_t code() const { return code_; }
  [[nodiscard]] bool is_fatal() const { return fatal_; }
  [[nodiscard]] bool is_retriable() const { return retriable_; }
  [[nodiscard]] bool requires_abort() const { return abortable_; }

 private:
  rd_kafka_resp_err_t code_;
  bool fatal_;
  bool retriable_ = false;
  bool abortable_ = false;
};

// librdkafka properties, in the order set; later settings win.
class Properties {
 public:
  Properties& set(std::string key, std::string value);
  [[nodiscard]] std::optional<std::string> get(const std::string& key) const;
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

  // bootstrap.servers from KAFKA_BOOTSTRAP_SERVERS and every other KAFKA_<NAME> as <name> with
  // '_' -> '.', lower case (KAFKA_SECURITY_PROTOCOL -> security.protocol).
  static Properties from_config(const Config& config);

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// Builds a conf; a property librdkafka rejects is a ConfigError naming the KAFKA_ variable.
ConfPtr make_conf(const Properties& props);

struct Header {
  std::string key;
  std::string value;
};

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

class Consumer;

class Producer {
 public:
  // transactional_id: empty for an idempotent producer, else a transactional one.
  Producer(const Properties& props, MetricsRegistry& metrics, const std::string& transactional_id = {});
  ~Producer();  // flushes (up to 30 s), then destroys
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues a copy of key and value. While the local queue is full it polls and waits: the
  // caller slows down, nothing is dropped. Throws KafkaError on fatal errors.
  // partition: RD_KAFKA_PARTITION_UA lets the partitioner choose from the key.
  void produce(const std::string& topic, std::string_view key, std::string_view value, std::int64_t timestamp_ms = 0,
               const std::vector<Header>& headers = {}, std::int32_t partition = RD_KAFKA_PARTITION_UA);
  void poll(int timeout_ms = 0);
  // Waits until every queued message is delivered or failed; false on timeout.
  bool flush(std::chrono::milliseconds timeout);
  // Looks up the topics' partitions and leaders now. librdkafka otherwise does it on the first
  // produce to each topic, and its refresh timer makes that flush wait 0.5-1 s (measured on the
  // embedded broker). False if a topic could not be looked up within the timeout.
  bool warm_up(const std::vector<std::string>& topics, std::chrono::milliseconds timeout);
  [[nodiscard]] std::uint64_t delivered() const { return delivered_; }
  [[nodiscard]] std::uint64_t failed() const { return failed_; }
  [[nodiscard]] int in_flight() const { return rd_kafka_outq_len(rk_.get()); }
  // Throws KafkaError if librdkafka raised a fatal error (e.g. fenced idempotent producer).
  void check_fatal() const;
  [[nodiscard]] rd_kafka_t* handle() const { return rk_.get(); }

  // Transactions (transactional producers only), as in librdkafka's transactions example.
  // Each throws KafkaError classified as fatal (fenced: stop), requires_abort (abort the
  // transaction and rewind) or retriable (call again).
  void init_transactions(std::chrono::milliseconds timeout);
  void begin_transaction();
  // Commits these next-offsets of `consumer`'s group as part of the transaction.
  void send_offsets_to_transaction(const Consumer& consumer, const std::map<TopicPartition, std::int64_t>& next_offsets,
                                   std::chrono::milliseconds timeout);
  void commit_transaction(std::chrono::milliseconds timeout);
  void abort_transaction(std::chrono::milliseconds timeout);

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t*, void* opaque);
  HandlePtr rk_;
  std::uint64_t delivered_ = 0;
  std::uint64_t failed_ = 0;
  Counter& delivered_metric_;
  Counter& failed_metric_;
  Counter& queue_full_waits_;
};

class Consumer {
 public:
  struct Listener {
    // Called before newly assigned partitions start fetching: the offsets to start from (for
    // state restored from elsewhere); partitions left out start at the committed offset.
    std::function<std::map<TopicPartition, std::int64_t>(const std::vector<TopicPartition>&)> start_offsets;
    std::function<void(const std::vector<TopicPartition>&)> assigned;
    std::function<void(const std::vector<TopicPartition>&)> revoked;  // before they go
  };
  Consumer(const Properties& props, const std::string& group_id, const std::vector<std::string>& topics,
           Listener listener = {});
  ~Consumer();  // leaves the group cleanly
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // One message or event; nullptr on timeout. Partition EOF and transient errors are not
  // returned as messages (they are logged); fatal consumer errors throw KafkaError.
  MessagePtr poll(int timeout_ms);

  // Records that msg was processed: its offset + 1 will be committed by commit(). A record of a
  // partition this member no longer owns (revoked since it was read) is ignored: committing it
  // could move the new owner's committed offset backwards.
  void mark_processed(const rd_kafka_message_t& msg);
  [[nodiscard]] bool has_uncommitted() const { return !pending_.empty(); }
  // Commits what was marked (synchronously); false and logs on failure (retried next time).
  bool commit();
  // Commits exactly these next-offsets (synchronously); false and logs on failure.
  bool commit_offsets(const std::map<TopicPartition, std::int64_t>& next_offsets);
  // The marked offsets as a list (for send_offsets_to_transaction).
  [[nodiscard]] PartitionListPtr marked_offsets() const;
  void clear_marks() { pending_.clear(); }

  // Records between the consumer's position and the end of each assigned partition, from the
  // high watermarks librdkafka last fetched (no broker round trip).
  [[nodiscard]] std::int64_t lag() const;
  void pause_all();
  void resume_all();
  // Moves the fetch positions of assigned partitions (rewind after an aborted transaction).
  void seek(const std::map<TopicPartition, std::int64_t>& next_offsets);
  [[nodiscard]] std::vector<TopicPartition> assignment() const;
  [[nodiscard]] rd_kafka_t* handle() const { return rk_.get(); }
  void close();
  // Times poll() woke a fetcher that the full prefetch queue had stopped (see wake_fetchers).
  [[nodiscard]] std::uint64_t fetch_wakeups() const { return fetch_wakeups_; }

 private:
  void watch_prefetch(bool timed_out);
  void wake_fetchers();
  static void on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*, void* opaque);
  void rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  HandlePtr rk_;
  Listener listener_;
  std::map<TopicPartition, std::int64_t> pending_;  // next offset to commit
  std::set<TopicPartition> assigned_;
  bool closed_ = false;
  bool cooperative_ = true;  // the rebalance protocol in use (cooperative-sticky unless overridden)
  // Prefetch stall workaround (librdkafka < 2.2): see wake_fetchers().
  QueuePtr queue_;               // the consumer queue, for its length
  std::int64_t queued_min_ = 0;  // queued.min.messages; 0 when the workaround is off
  bool prefetch_full_ = false;   // the queue reached the threshold since the last wake-up
  std::uint32_t polls_ = 0;
  std::map<std::int32_t, TopicPartition> wake_targets_;  // one assigned partition per leader broker
  bool wake_targets_stale_ = true;
  std::uint64_t fetch_wakeups_ = 0;
};

// Creates the topics that the cluster does not have yet. Never throws for a broker that
// refuses or does not implement CreateTopics: logs a warning and returns false.
// topic_config: topic-level settings for the topics it creates (e.g. cleanup.policy=compact).
bool ensure_topics(const Properties& props, const std::vector<std::string>& topics, int partitions,
                   int replication_factor, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                   const std::map<std::string, std::string>& topic_config = {});

// The same with TOPIC_PARTITIONS and TOPIC_REPLICATION_FACTOR from config.
bool ensure_topics(const Config& config, const Properties& props, const std::vector<std::string>& topics);

// Whether the cluster answers a metadata request within timeout (for /readyz).
bool cluster_reachable(rd_kafka_t* rk, std::chrono::milliseconds timeout);

// Sends a record that could not be processed to the dead-letter topic with headers error,
// source.topic, source.partition, source.offset; the original key and value are kept.
void send_to_dead_letter(Producer& producer, const std::string& dead_letter_topic, const rd_kafka_message_t& original,
                         const std::string& error, const std::vector<Header>& extra_headers = {});

// Views of a message's parts.
inline std::string_view key_of(const rd_kafka_message_t& m) {
  return m.key ? std::string_view(static_cast<const char*>(m.key), m.key_len) : std::string_view();
}
inline std::string_view value_of(const rd_kafka_message_t& m) {
  return m.payload ? std::string_view(static_cast<const char*>(m.payload), m.len) : std::string_view();
}
inline std::string topic_of(const rd_kafka_message_t& m) {
  return rd_kafka_topic_name(m.rkt);
}
std::int64_t timestamp_of(const rd_kafka_message_t& m);

}  // namespace cryptoflow::kafka
