#pragma once
// Offsets a consumer skipped without reading them. When retention (or a truncation) removes
// records a consumer has not read yet - it was down, or paused while its store was away, for
// longer than the topic keeps data - the broker answers its next fetch "offset out of range" and
// librdkafka's auto.offset.reset moves it to the log start: by itself that is one librdkafka log
// line. The watch knows where each partition's reading should go on (the assigned, sought or
// committed offset, then the last record + 1); a record further on, where the log now starts
// beyond that offset, is a skip: logged as an error with topic, partition and the count, and
// counted in cryptoflow_kafka_offsets_skipped_total{topic,partition}. A gap the log start does
// not explain (transaction markers, aborted records) is not one.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "native.hpp"

namespace cryptoflow::kafka::native {

class OffsetWatch {
 public:
  static constexpr std::int64_t kUnknown = -1;  // the start is the committed offset, asked at the first record

  // The next record of tp is expected at `next` (kUnknown: at its committed offset).
  void expect(const TopicPartition& tp, std::int64_t next) { expected_[tp] = next; }
  void forget(const TopicPartition& tp) {
    last_ = nullptr;
    expected_.erase(tp);
  }
  void forget_all() {
    last_ = nullptr;
    expected_.clear();
  }

  // After a record of tp at offset. committed: the group's committed offset of tp (asked only
  // for the first record of a partition whose start was unknown, and only when that record is
  // the log start). Returns the offsets skipped (0: none).
  std::int64_t seen(rd_kafka_t* rk, const TopicPartition& tp, std::int64_t offset,
                    const std::function<std::optional<std::int64_t>()>& committed);

 private:
  std::map<TopicPartition, std::int64_t> expected_;
  // The entry of the last record's partition: consecutive records of one partition (the usual
  // case) cost no map look-up. Map entries stay put until erased.
  std::pair<const TopicPartition, std::int64_t>* last_ = nullptr;
};

}  // namespace cryptoflow::kafka::native
