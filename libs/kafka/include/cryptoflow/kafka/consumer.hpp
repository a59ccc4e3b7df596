#pragma once
// KafkaConsumer: a consumer-group member over librdkafka. Manual commits only, read_committed,
// cooperative-sticky rebalancing with incremental assignment (eager if the group uses it).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cryptoflow/kafka/client.hpp"
#include "cryptoflow/kafka/properties.hpp"

namespace cryptoflow::kafka {

class KafkaConsumer final : public Consumer {
 public:
  KafkaConsumer(const Properties& props, const std::string& group_id);
  // Subscribes at once (a reader that needs no listener).
  KafkaConsumer(const Properties& props, const std::string& group_id, const std::vector<std::string>& topics);
  ~KafkaConsumer() override;  // close(); an error from the listener is logged there
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  void subscribe(const std::vector<std::string>& topics, RebalanceListener listener) override;
  std::optional<Record> poll(std::chrono::milliseconds timeout) override;
  void commit(const OffsetMap& next_offsets) override;
  OffsetMap committed(const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) override;
  void seek(const OffsetMap& next_offsets) override;
  void pause(const std::vector<TopicPartition>& partitions) override;
  void resume(const std::vector<TopicPartition>& partitions) override;
  [[nodiscard]] std::vector<TopicPartition> assignment() const override;
  [[nodiscard]] std::int64_t lag() const override;
  [[nodiscard]] std::int64_t lag(const TopicPartition& partition) const override;
  Watermarks watermarks(const TopicPartition& partition, std::chrono::milliseconds timeout) override;
  [[nodiscard]] GroupMetadata group_metadata() const override;
  void close() override;

  // "COOPERATIVE" or "EAGER": what the group settled on (empty before the first assignment).
  [[nodiscard]] std::string rebalance_protocol() const;
  // Times poll() woke a fetcher that a full prefetch queue had stopped (librdkafka < 2.2).
  [[nodiscard]] std::uint64_t fetch_wakeups() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cryptoflow::kafka
