#include "state_store.hpp"

#include <algorithm>
#include <cstring>

#include "cryptoflow/log.hpp"

namespace cryptoflow::processor {
namespace {

constexpr std::uint32_t kStateMagic = 0x31545343;  // "CST1"

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <class T>
bool get(std::string_view& in, T& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}

}  // namespace

std::string encode_state(const StateRecord& r) {
  std::string out;
  out.reserve(28 + r.engine.size());
  put(out, kStateMagic);
  put(out, r.next_offset);
  put(out, r.seq);
  put(out, r.nonce);
  out += r.engine;
  return out;
}

std::optional<StateRecord> decode_state(std::string_view in) {
  StateRecord r;
  std::uint32_t magic = 0;
  if (!get(in, magic) || magic != kStateMagic || !get(in, r.next_offset) || !get(in, r.seq) || !get(in, r.nonce))
    return std::nullopt;
  if (r.next_offset < 0 || r.seq < 0) return std::nullopt;
  r.engine.assign(in);
  return r;
}

std::string state_key(const std::string& group, const std::string& input_topic, std::int32_t partition) {
  return group + "/" + input_topic + "/" + std::to_string(partition);
}

std::string commit_tag(std::int32_t partition, std::uint64_t nonce, std::int64_t seq) {
  return std::to_string(partition) + "/" + std::to_string(nonce) + "/" + std::to_string(seq);
}

StateReader::StateReader(const kafka::Properties& props, std::string state_topic) : topic_(std::move(state_topic)) {
  kafka::Properties p;
  p.set("client.id", "cryptoflow-state-reader").set("fetch.wait.max.ms", "5");
  for (const auto& [k, v] : props.items()) p.set(k, v);
  p.set("group.id", "cryptoflow-state-reader")  // never joins or commits: assign() only
      .set("enable.auto.commit", "false")
      .set("enable.partition.eof", "true")
      .set("isolation.level", "read_committed")
      .set("auto.offset.reset", "earliest");
  char err[512];
  rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, kafka::make_conf(p).release(), err, sizeof err));
  if (!rk_) throw std::runtime_error(std::string("cannot create the state reader: ") + err);
}

std::int32_t StateReader::state_partition(std::int32_t input_partition) {
  if (partitions_ == 0) {
    const rd_kafka_metadata_t* md = nullptr;
    std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)> topic(
        rd_kafka_topic_new(rk_.get(), topic_.c_str(), nullptr), rd_kafka_topic_destroy);
    if (const auto err = rd_kafka_metadata(rk_.get(), 0, topic.get(), &md, 10'000))
      throw kafka::KafkaError(err, "state topic " + topic_ + ": metadata: " + rd_kafka_err2str(err));
    std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> owned(md,
                                                                                           rd_kafka_metadata_destroy);
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0)
      throw kafka::KafkaError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "state topic " + topic_ + " does not exist");
    partitions_ = md->topics[0].partition_cnt;
  }
  return input_partition % partitions_;
}

std::map<std::int32_t, StateRecord> StateReader::read_latest(const std::string& group, const std::string& input_topic,
                                                             const std::vector<std::int32_t>& partitions,
                                                             std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::map<std::int32_t, StateRecord> out;
  for (const auto p : partitions)
    if (auto r = latest(state_key(group, input_topic, p), state_partition(p), deadline)) out.emplace(p, std::move(*r));
  return out;
}

// Reads backwards in growing steps: the newest record of a key is normally among the last few.
std::optional<StateRecord> StateReader::latest(const std::string& key, std::int32_t sp,
                                               std::chrono::steady_clock::time_point deadline) {
  auto remaining = [&] {
    return static_cast<int>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count()));
  };
  std::int64_t low = 0, high = 0;
  if (const auto err = rd_kafka_query_watermark_offsets(rk_.get(), topic_.c_str(), sp, &low, &high, remaining()))
    throw kafka::KafkaError(err, "state topic " + topic_ + ": watermarks: " + rd_kafka_err2str(err));
  std::int64_t end = high;
  std::int64_t step = 64;
  while (end > low) {
    const auto start = std::max(low, end - step);
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), sp)->offset = start;
    if (const auto err = rd_kafka_assign(rk_.get(), list.get()))
      throw kafka::KafkaError(err, std::string("state topic: assign: ") + rd_kafka_err2str(err));
    std::optional<StateRecord> found;
    for (;;) {
      if (remaining() == 0)
        throw kafka::KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "state topic " + topic_ + ": restore timed out");
      kafka::MessagePtr m(rd_kafka_consumer_poll(rk_.get(), 100));
      if (!m) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) break;
      if (m->err) {
        log_warn("state topic read error", {{"error", rd_kafka_message_errstr(m.get())}});
        continue;
      }
      if (m->offset >= end) break;
      if (kafka::key_of(*m) != key) continue;
      if (auto r = decode_state(kafka::value_of(*m))) {
        found = std::move(r);
      } else {
        log_error("undecodable state record skipped", {{"key", key}, {"offset", static_cast<std::int64_t>(m->offset)}});
      }
    }
    rd_kafka_assign(rk_.get(), nullptr);
    if (found) return found;
    end = start;
    step *= 4;
  }
  return std::nullopt;
}

}  // namespace cryptoflow::processor
