#pragma once
// The values that cross the Kafka boundary: a record read, a message to send, partitions and
// their offsets. Plain values: no librdkafka type, nothing that outlives a handle.
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cryptoflow::kafka {

struct Header {
  std::string key;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

// Offsets per partition. As committed offsets: the next offset to read.
using OffsetMap = std::map<TopicPartition, std::int64_t>;

// A record read from a topic. A null key or value reads as empty.
struct Record {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp = 0;  // ms since the epoch; 0 when the record has none
  std::string key;
  std::string value;
  std::vector<Header> headers;

  // The value of the last header with this name.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
  [[nodiscard]] TopicPartition topic_partition() const { return {topic, partition}; }
  friend bool operator==(const Record&, const Record&) = default;
};

// A record to send. The views are copied by produce(): they need not outlive the call.
struct Message {
  std::string_view topic;
  std::string_view key;  // empty: no key
  std::string_view value;
  std::int64_t timestamp = 0;  // ms since the epoch; 0: the producer's clock
  std::span<const Header> headers{};
  std::optional<std::int32_t> partition{};  // none: the partitioner chooses from the key
};

// The partition librdkafka's default partitioner (consistent_random) puts a non-empty key in:
// the key's CRC-32 modulo the partition count. Every service produces with it, so a reader can
// tell which partition holds a key's records.
std::int32_t default_partition(std::string_view key, std::int32_t partitions);

// The first offset still in a partition and the offset the next record will get.
struct Watermarks {
  std::int64_t low = 0;
  std::int64_t high = 0;
};

// Opaque consumer-group state for send_offsets_to_transaction (KIP-447: the member id and
// generation let the broker fence a zombie's offsets). Fakes fill group_id only.
struct GroupMetadata {
  std::string group_id;
  std::shared_ptr<const void> native;
};

}  // namespace cryptoflow::kafka
