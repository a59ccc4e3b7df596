// KafkaProducer's transactions API, as in librdkafka's transactions example: every call's
// rd_kafka_error_t becomes a classified KafkaError (fatal / abortable / retriable / ...).
#include "producer_impl.hpp"

namespace cryptoflow::kafka {

void KafkaProducer::init_transactions(std::chrono::milliseconds timeout) {
  impl_->txn(rd_kafka_init_transactions(impl_->rk.get(), native::to_ms(timeout)), "init_transactions");
}

void KafkaProducer::begin_transaction() {
  impl_->txn(rd_kafka_begin_transaction(impl_->rk.get()), "begin_transaction");
  impl_->failed_since_flush = 0;  // failures of an aborted transaction were dealt with by the abort
}

void KafkaProducer::send_offsets_to_transaction(const OffsetMap& next_offsets, const GroupMetadata& group,
                                                std::chrono::milliseconds timeout) {
  if (next_offsets.empty()) return;
  if (!group.native)
    throw KafkaError(ErrorKind::failed, "send_offsets_to_transaction: not the metadata of a Kafka consumer group");
  const auto list = native::to_list(next_offsets);
  impl_->txn(rd_kafka_send_offsets_to_transaction(
                 impl_->rk.get(), list.get(),
                 static_cast<const rd_kafka_consumer_group_metadata_t*>(group.native.get()), native::to_ms(timeout)),
             "send_offsets_to_transaction");
}

void KafkaProducer::commit_transaction(std::chrono::milliseconds timeout) {
  impl_->txn(rd_kafka_commit_transaction(impl_->rk.get(), native::to_ms(timeout)), "commit_transaction");
}

void KafkaProducer::abort_transaction(std::chrono::milliseconds timeout) {
  impl_->txn(rd_kafka_abort_transaction(impl_->rk.get(), native::to_ms(timeout)), "abort_transaction");
  impl_->failed_since_flush = 0;
}

}  // namespace cryptoflow::kafka
