#pragma once
// KafkaProducer: the Producer over librdkafka. Idempotent (enable.idempotence, acks=all: not
// overridable), optionally transactional; delivery reports counted; flush on destruction.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cryptoflow/kafka/client.hpp"
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/runtime/metrics.hpp"

namespace cryptoflow::kafka {

class KafkaProducer final : public Producer {
 public:
  // transactional_id: empty for an idempotent producer, else a transactional one.
  KafkaProducer(const Properties& props, MetricsRegistry& metrics, const std::string& transactional_id = {});
  ~KafkaProducer() override;  // flushes (up to 30 s), then destroys
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  void produce(const Message& message) override;
  void poll(std::chrono::milliseconds timeout) override;
  void flush(std::chrono::milliseconds timeout) override;
  void init_transactions(std::chrono::milliseconds timeout) override;
  void begin_transaction() override;
  void send_offsets_to_transaction(const OffsetMap& next_offsets, const GroupMetadata& group,
                                   std::chrono::milliseconds timeout) override;
  void commit_transaction(std::chrono::milliseconds timeout) override;
  void abort_transaction(std::chrono::milliseconds timeout) override;

  // Looks the topics' partitions and leaders up now. librdkafka otherwise does it on the first
  // produce to each topic, and in a transaction its refresh timer makes the first commit wait
  // 1 s (measured on the embedded broker; an idempotent producer's first flush did not wait).
  // False (and a warning) if a topic could not be looked up in time, or once stop() is true.
  bool warm_up(const std::vector<std::string>& topics, std::chrono::milliseconds timeout,
               const std::function<bool()>& stop = {});
  // Whether the cluster answers a metadata request within the timeout. Thread-safe (for /readyz).
  [[nodiscard]] bool reachable(std::chrono::milliseconds timeout) const;
  [[nodiscard]] std::uint64_t delivered() const;
  [[nodiscard]] std::uint64_t failed() const;
  [[nodiscard]] int in_flight() const;
  // Drops what is queued or in flight, so that destruction does not wait for it: for a process
  // stopping on an error, whose uncommitted output is of no use.
  void purge();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cryptoflow::kafka
