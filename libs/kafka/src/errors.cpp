// The one classification of librdkafka's errors into ErrorKind (error.hpp).
#include "native.hpp"

namespace cryptoflow::kafka {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::retriable: return "retriable";
    case ErrorKind::abortable: return "abortable";
    case ErrorKind::fatal: return "fatal";
    case ErrorKind::timed_out: return "timed_out";
    case ErrorKind::failed: return "failed";
  }
  return "?";
}

namespace native {

ErrorKind classify(rd_kafka_resp_err_t code) {
  switch (code) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT: return ErrorKind::timed_out;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED: return ErrorKind::fatal;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__RETRY:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:
    case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS: return ErrorKind::retriable;
    default: return ErrorKind::failed;
  }
}

KafkaError to_error(rd_kafka_resp_err_t code, const std::string& context) {
  return {classify(code), context + ": " + rd_kafka_err2str(code), rd_kafka_err2name(code)};
}

KafkaError to_error(rd_kafka_error_t* error, const std::string& context) {
  const ErrorPtr owned(error);
  const auto code = rd_kafka_error_code(error);
  ErrorKind kind = classify(code);
  if (rd_kafka_error_is_fatal(error))
    kind = ErrorKind::fatal;
  else if (rd_kafka_error_txn_requires_abort(error))
    kind = ErrorKind::abortable;
  else if (rd_kafka_error_is_retriable(error))
    kind = ErrorKind::retriable;
  return {kind, context + ": " + rd_kafka_error_string(error), rd_kafka_error_name(error)};
}

void throw_if_fatal(rd_kafka_t* rk, const std::string& context) {
  char buf[512];
  if (const auto code = rd_kafka_fatal_error(rk, buf, sizeof buf))
    throw KafkaError(ErrorKind::fatal, context + ": " + buf, rd_kafka_err2name(code));
}

void check_partitions(const rd_kafka_topic_partition_list_t* list, const std::string& context) {
  for (int i = 0; i < list->cnt; ++i)
    if (const auto err = list->elems[i].err)
      throw to_error(err, context + " " + list->elems[i].topic + "/" + std::to_string(list->elems[i].partition));
}

}  // namespace native
}  // namespace cryptoflow::kafka
