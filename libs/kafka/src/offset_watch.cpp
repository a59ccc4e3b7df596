#include "offset_watch.hpp"

#include <algorithm>

#include "cryptoflow/runtime/log.hpp"
#include "cryptoflow/runtime/metrics.hpp"

namespace cryptoflow::kafka::native {

namespace {

// The partition's log start: from the last fetch answer (no round trip), else asked.
std::int64_t log_start(rd_kafka_t* rk, const TopicPartition& tp) {
  std::int64_t low = -1, high = -1;
  if (rd_kafka_get_watermark_offsets(rk, tp.topic.c_str(), tp.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      low >= 0)
    return low;
  try {
    return query_watermarks(rk, tp, std::chrono::seconds(5)).low;
  } catch (const KafkaError&) {
    return -1;  // unknown: no skip is claimed
  }
}

}  // namespace

std::int64_t OffsetWatch::seen(rd_kafka_t* rk, const TopicPartition& tp, std::int64_t offset,
                               const std::function<std::optional<std::int64_t>()>& committed) {
  if (last_ != nullptr && last_->second == offset && last_->first == tp) {  // in order: the usual case
    last_->second = offset + 1;
    return 0;
  }
  const auto it = expected_.find(tp);
  if (it == expected_.end()) {
    last_ = &*expected_.emplace(tp, offset + 1).first;
    return 0;
  }
  last_ = &*it;
  auto expected = it->second;
  it->second = offset + 1;
  if (expected == offset || (expected >= 0 && offset < expected)) return 0;  // in order, or read again
  if (expected < 0) {  // the first record; the reading started at the committed offset or the log start
    if (offset == 0 || log_start(rk, tp) != offset || !committed) return 0;
    expected = committed().value_or(-1);
    if (expected < 0 || expected >= offset) return 0;  // no committed offset (a new group), or none skipped
  }
  const auto low = log_start(rk, tp);
  if (low <= expected) return 0;  // the log still holds what lies between: markers or aborted records
  const auto skipped = std::min(offset, low) - expected;
  log_error(
      "offsets skipped: the topic no longer held them when they were to be read (retention ran past this "
      "consumer); they are lost to it - docs/operations.md says how to replay them",
      {{"topic", tp.topic},
       {"partition", tp.partition},
       {"expected_offset", expected},
       {"resumed_at", offset},
       {"skipped", skipped}});
  if (auto* m = process_metrics())
    m->counter("cryptoflow_kafka_offsets_skipped_total",
               "offsets a consumer did not read because the topic no longer held them (retention ran past it)",
               {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}})
        .inc(static_cast<std::uint64_t>(skipped));
  return skipped;
}

}  // namespace cryptoflow::kafka::native
