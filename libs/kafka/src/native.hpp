#pragma once
// Private to libs/kafka: librdkafka's handles under RAII, and the conversions between its
// types and the library's values. The only header of the project that includes librdkafka.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cryptoflow/kafka/error.hpp"
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/kafka/record.hpp"

namespace cryptoflow::kafka::native {

template <class T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Destroy(p);
  }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, Deleter<rd_kafka_t, rd_kafka_destroy>>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, Deleter<rd_kafka_conf_t, rd_kafka_conf_destroy>>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, Deleter<rd_kafka_message_t, rd_kafka_message_destroy>>;
using PartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    Deleter<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy>>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, Deleter<rd_kafka_headers_t, rd_kafka_headers_destroy>>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, Deleter<rd_kafka_queue_t, rd_kafka_queue_destroy>>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, Deleter<rd_kafka_error_t, rd_kafka_error_destroy>>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, Deleter<rd_kafka_event_t, rd_kafka_event_destroy>>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, Deleter<rd_kafka_topic_t, rd_kafka_topic_destroy>>;
using MetadataPtr =
    std::unique_ptr<const rd_kafka_metadata_t, Deleter<const rd_kafka_metadata_t, rd_kafka_metadata_destroy>>;
using AdminOptionsPtr =
    std::unique_ptr<rd_kafka_AdminOptions_t, Deleter<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>>;

// A conf for a client of `type` with the library's error and log callbacks; a refused property is
// a ConfigError naming its KAFKA_ variable. A property librdkafka documents for the other kind of
// client only (a consumer's session.timeout.ms, a producer's linger.ms) is left out: the services
// take every KAFKA_ variable for all their clients, and librdkafka would log a CONFWARN for each.
ConfPtr make_conf(const Properties& props, rd_kafka_type_t type);
// rd_kafka_new; takes the conf. Throws ConfigError if librdkafka refuses it.
HandlePtr make_handle(rd_kafka_type_t type, ConfPtr conf);

// The one classification of librdkafka's errors (error.hpp).
ErrorKind classify(rd_kafka_resp_err_t code);
KafkaError to_error(rd_kafka_resp_err_t code, const std::string& context);
// Takes ownership of error (rd_kafka_error_t carries its own fatal / abortable / retriable flags).
KafkaError to_error(rd_kafka_error_t* error, const std::string& context);
// The client's fatal error as a KafkaError, or nothing.
void throw_if_fatal(rd_kafka_t* rk, const std::string& context);
inline void check(rd_kafka_resp_err_t code, const std::string& context) {
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) throw to_error(code, context);
}
inline void check(rd_kafka_error_t* error, const std::string& context) {
  if (error) throw to_error(error, context);
}
// The first per-partition error of a list, if any.
void check_partitions(const rd_kafka_topic_partition_list_t* list, const std::string& context);

int to_ms(std::chrono::milliseconds timeout);
int remaining_ms(std::chrono::steady_clock::time_point deadline);

Record to_record(const rd_kafka_message_t& m);
PartitionListPtr to_list(const OffsetMap& offsets);
PartitionListPtr to_list(const std::vector<TopicPartition>& partitions);
std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* list);

// The cluster's metadata for one topic. Throws KafkaError on failure.
MetadataPtr metadata(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout);
// The brokers and every topic (all_topics) or only those this client knows. Throws KafkaError.
MetadataPtr cluster_metadata(rd_kafka_t* rk, bool all_topics, std::chrono::milliseconds timeout);
// Partition count of a topic that exists; throws failed if it does not.
std::int32_t partition_count(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout);
Watermarks query_watermarks(rd_kafka_t* rk, const TopicPartition& tp, std::chrono::milliseconds timeout);

}  // namespace cryptoflow::kafka::native
