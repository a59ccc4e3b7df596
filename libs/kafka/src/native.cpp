// Conversions between librdkafka's types and the library's values, and metadata look-ups.
#include "native.hpp"

#include <algorithm>

namespace cryptoflow::kafka::native {

int to_ms(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 0, 0x7fffffff));
}

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  return to_ms(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
}

Record to_record(const rd_kafka_message_t& m) {
  Record r;
  r.topic = rd_kafka_topic_name(m.rkt);
  r.partition = m.partition;
  r.offset = m.offset;
  rd_kafka_timestamp_type_t type;
  r.timestamp = std::max<std::int64_t>(0, rd_kafka_message_timestamp(&m, &type));
  if (m.key) r.key.assign(static_cast<const char*>(m.key), m.key_len);
  if (m.payload) r.value.assign(static_cast<const char*>(m.payload), m.len);
  rd_kafka_headers_t* hdrs = nullptr;  // owned by the message
  if (rd_kafka_message_headers(&m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
      r.headers.push_back({name, value ? std::string(static_cast<const char*>(value), size) : std::string()});
  }
  return r;
}

PartitionListPtr to_list(const OffsetMap& offsets) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(std::max<std::size_t>(1, offsets.size()))));
  for (const auto& [tp, off] : offsets)
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = off;
  return list;
}

PartitionListPtr to_list(const std::vector<TopicPartition>& partitions) {
  PartitionListPtr list(
      rd_kafka_topic_partition_list_new(static_cast<int>(std::max<std::size_t>(1, partitions.size()))));
  for (const auto& tp : partitions) rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
  return list;
}

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (!list) return out;
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) out.push_back({list->elems[i].topic, list->elems[i].partition});
  return out;
}

MetadataPtr metadata(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout) {
  const TopicPtr rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  if (!rkt) throw to_error(rd_kafka_last_error(), "topic handle " + topic);
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk, 0, rkt.get(), &md, to_ms(timeout));
  MetadataPtr owned(md);
  check(err, "metadata of " + topic);
  return owned;
}

MetadataPtr cluster_metadata(rd_kafka_t* rk, bool all_topics, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk, all_topics ? 1 : 0, nullptr, &md, to_ms(timeout));
  MetadataPtr owned(md);
  check(err, "cluster metadata");
  return owned;
}

std::int32_t partition_count(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout) {
  const auto md = metadata(rk, topic, timeout);
  if (md->topic_cnt != 1) throw KafkaError(ErrorKind::failed, "metadata of " + topic + ": no such topic");
  check(md->topics[0].err, "topic " + topic);
  if (md->topics[0].partition_cnt <= 0) throw KafkaError(ErrorKind::failed, "topic " + topic + " has no partitions");
  return md->topics[0].partition_cnt;
}

Watermarks query_watermarks(rd_kafka_t* rk, const TopicPartition& tp, std::chrono::milliseconds timeout) {
  Watermarks w;
  check(rd_kafka_query_watermark_offsets(rk, tp.topic.c_str(), tp.partition, &w.low, &w.high, to_ms(timeout)),
        "watermarks of " + tp.topic + "/" + std::to_string(tp.partition));
  return w;
}

}  // namespace cryptoflow::kafka::native
