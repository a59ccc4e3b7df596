#pragma once
// Private to libs/kafka: KafkaProducer's state, shared by producer.cpp (produce, flush,
// delivery reports) and transactions.cpp (the transactions API).
#include <atomic>
#include <string>

#include "cryptoflow/kafka/producer.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "native.hpp"

namespace cryptoflow::kafka {

struct KafkaProducer::Impl {
  Impl(MetricsRegistry& m, bool is_transactional)
      : transactional(is_transactional),
        delivered_metric(m.counter("cryptoflow_kafka_messages_delivered_total", "Messages acknowledged by Kafka")),
        failed_metric(m.counter("cryptoflow_kafka_delivery_errors_total", "Messages Kafka failed to deliver")),
        queue_full_waits(m.counter("cryptoflow_kafka_queue_full_waits_total",
                                   "Times a produce waited because the local queue was full")) {}

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (m->err) {
      self->failed.fetch_add(1, std::memory_order_relaxed);
      self->failed_metric.inc();
      if (self->failed_since_flush++ == 0)
        self->first_failure = std::string(rd_kafka_topic_name(m->rkt)) + ": " + rd_kafka_err2str(m->err);
      static RateLimitedLog limited;
      limited(LogLevel::error, "kafka delivery failed",
              {{"topic", rd_kafka_topic_name(m->rkt)}, {"error", rd_kafka_err2str(m->err)}});
    } else {
      self->delivered.fetch_add(1, std::memory_order_relaxed);
      self->delivered_metric.inc();
    }
  }

  // What the transactions API returns, as KafkaError; the fatal state of the client first.
  void txn(rd_kafka_error_t* error, const char* what) const {
    if (!transactional) {
      if (error) rd_kafka_error_destroy(error);
      throw KafkaError(ErrorKind::failed, std::string(what) + ": not a transactional producer");
    }
    native::check(error, what);
  }

  native::HandlePtr rk;
  bool transactional;
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed{0};
  std::uint64_t failed_since_flush = 0;  // the polling thread only
  std::string first_failure;
  Counter& delivered_metric;
  Counter& failed_metric;
  Counter& queue_full_waits;
};

}  // namespace cryptoflow::kafka
