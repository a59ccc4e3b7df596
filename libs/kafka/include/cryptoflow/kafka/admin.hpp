#pragma once
// KafkaAdmin: the cluster as a whole: topics (creation, partitions, configuration), consumer
// groups (committed offsets, lag), watermarks and reachability.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/kafka/record.hpp"

namespace cryptoflow::kafka {

struct TopicSpec {
  std::string name;
  int partitions = 6;
  int replication_factor = 1;
  std::map<std::string, std::string> config;  // topic-level settings (cleanup.policy=compact)
  friend bool operator==(const TopicSpec&, const TopicSpec&) = default;
};

struct TopicsReport {
  std::vector<std::string> existing;
  std::vector<std::string> created;
  std::vector<std::pair<std::string, std::string>> failed;  // topic, why (not created: create it yourself)
  [[nodiscard]] bool ok() const { return failed.empty(); }
};

struct TopicInfo {
  std::string name;
  std::int32_t partitions = 0;
};

struct PartitionLag {
  std::optional<std::int64_t> committed;  // next offset the group reads; none if never committed
  Watermarks watermarks;
  // Records the group has not committed yet (from the low watermark if it never committed).
  [[nodiscard]] std::int64_t lag() const {
    const auto from = committed.value_or(watermarks.low);
    return watermarks.high > from ? watermarks.high - from : 0;
  }
};

class KafkaAdmin {
 public:
  explicit KafkaAdmin(const Properties& props);
  ~KafkaAdmin();
  KafkaAdmin(const KafkaAdmin&) = delete;
  KafkaAdmin& operator=(const KafkaAdmin&) = delete;

  // Creates the topics that the cluster does not have. Never throws for a broker that refuses
  // or does not implement CreateTopics: that is in the report (and logged as a warning). Gives
  // up early (the topics not yet checked reported as failed) once stop() is true.
  TopicsReport ensure_topics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout,
                             const std::function<bool()>& stop = {});
  // The topics whose configuration differs from their spec's config (topic, what differs), each
  // logged as a warning. A topic the broker cannot describe is skipped with a warning.
  std::vector<std::pair<std::string, std::string>> check_configs(const std::vector<TopicSpec>& topics,
                                                                 std::chrono::milliseconds timeout);
  std::vector<TopicInfo> topics(std::chrono::milliseconds timeout);
  // The topic's configuration as the broker describes it; nothing if it cannot (UNSUPPORTED).
  std::optional<std::map<std::string, std::string>> topic_config(const std::string& topic,
                                                                 std::chrono::milliseconds timeout);
  // The group's committed next offsets of these partitions; partitions without one left out.
  OffsetMap committed(const std::string& group, const std::vector<TopicPartition>& partitions,
                      std::chrono::milliseconds timeout);
  // Committed offset and watermarks of every partition of the topics.
  std::map<TopicPartition, PartitionLag> group_lag(const std::string& group, const std::vector<std::string>& topics,
                                                   std::chrono::milliseconds timeout);
  Watermarks watermarks(const TopicPartition& partition, std::chrono::milliseconds timeout);
  // Whether the cluster answers a metadata request within the timeout. Thread-safe.
  [[nodiscard]] bool reachable(std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cryptoflow::kafka
