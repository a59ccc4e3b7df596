#pragma once
// KafkaReader: reads partitions by offset without joining a group (assign only, nothing
// committed, read_committed). For restoring state, and for services that serve everything
// from every partition.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cryptoflow/kafka/client.hpp"
#include "cryptoflow/kafka/properties.hpp"

namespace cryptoflow::kafka {

class KafkaReader final : public Reader {
 public:
  explicit KafkaReader(const Properties& props, const std::string& client_id = "cryptoflow-reader");
  ~KafkaReader() override;
  KafkaReader(const KafkaReader&) = delete;
  KafkaReader& operator=(const KafkaReader&) = delete;

  std::int32_t partition_count(const std::string& topic, std::chrono::milliseconds timeout) override;
  std::optional<Record> newest(const TopicPartition& partition, std::string_view key, std::int64_t not_before_ms,
                               std::chrono::milliseconds timeout, const std::function<bool()>& cancelled) override;
  void scan(const TopicPartition& partition, const std::function<void(const Record&)>& each,
            std::chrono::milliseconds timeout, const std::function<bool()>& cancelled) override;

  // The last n committed records of the partition, oldest first (fewer when the partition holds
  // fewer; transaction markers and aborted records take offsets, so it reads further back until
  // it has n). Unassigns when done.
  std::vector<Record> tail(const TopicPartition& partition, std::size_t n, std::chrono::milliseconds timeout);
  // Replaces what is read: these partitions from these offsets.
  void assign(const OffsetMap& start);
  // The next record of the assigned partitions, or nothing within the timeout. A partition
  // read to its end is reported by at_end() until more arrives.
  std::optional<Record> poll(std::chrono::milliseconds timeout);
  [[nodiscard]] bool at_end(const TopicPartition& partition) const;
  Watermarks watermarks(const TopicPartition& partition, std::chrono::milliseconds timeout);
  // Per partition of the topic, the first offset whose timestamp is >= timestamp_ms (the end of
  // the partition where there is none).
  OffsetMap offsets_for_time(const std::string& topic, std::int64_t timestamp_ms, std::chrono::milliseconds timeout);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cryptoflow::kafka
