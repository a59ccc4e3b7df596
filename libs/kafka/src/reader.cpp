#include "cryptoflow/kafka/reader.hpp"

#include <algorithm>
#include <map>

#include "cryptoflow/runtime/log.hpp"
#include "native.hpp"
#include "offset_watch.hpp"

namespace cryptoflow::kafka {

struct KafkaReader::Impl {
  native::HandlePtr rk;
  native::OffsetWatch watch;                      // offsets skipped past retention
  std::map<TopicPartition, std::int64_t> at_end;  // partition -> the offset its end was reached at
};

namespace {

// Unassigns the reader when a read ends, however it ends.
struct Unassign {
  KafkaReader& reader;
  explicit Unassign(KafkaReader& r) : reader(r) {}
  Unassign(const Unassign&) = delete;
  Unassign& operator=(const Unassign&) = delete;
  ~Unassign() {
    try {
      reader.assign({});
    } catch (const KafkaError& e) {
      log_warn("reader: unassign failed", {{"error", e.what()}});
    }
  }
};

}  // namespace

KafkaReader::KafkaReader(const Properties& props, const std::string& client_id) : impl_(std::make_unique<Impl>()) {
  Properties p;
  p.set("client.id", client_id).set("fetch.wait.max.ms", "5");
  for (const auto& [k, v] : props.items()) p.set(k, v);
  p.set("group.id", client_id)  // never joins or commits: assign() only
      .set("enable.auto.commit", "false")
      .set("enable.auto.offset.store", "false")
      .set("enable.partition.eof", "true")
      .set("isolation.level", "read_committed")
      .set("auto.offset.reset", "earliest");
  impl_->rk = native::make_handle(RD_KAFKA_CONSUMER, native::make_conf(p, RD_KAFKA_CONSUMER));
  native::check(rd_kafka_poll_set_consumer(impl_->rk.get()), "poll_set_consumer");
}

KafkaReader::~KafkaReader() {
  (void)rd_kafka_assign(impl_->rk.get(), nullptr);  // nothing to report: the handle goes next
}

std::int32_t KafkaReader::partition_count(const std::string& topic, std::chrono::milliseconds timeout) {
  return native::partition_count(impl_->rk.get(), topic, timeout);
}

void KafkaReader::assign(const OffsetMap& start) {
  impl_->at_end.clear();
  impl_->watch.forget_all();
  for (const auto& [tp, offset] : start)
    if (offset >= 0) impl_->watch.expect(tp, offset);
  if (start.empty()) {
    native::check(rd_kafka_assign(impl_->rk.get(), nullptr), "unassign");
    return;
  }
  const auto list = native::to_list(start);
  native::check(rd_kafka_assign(impl_->rk.get(), list.get()), "assign");
}

std::optional<Record> KafkaReader::poll(std::chrono::milliseconds timeout) {
  native::MessagePtr m(rd_kafka_consumer_poll(impl_->rk.get(), native::to_ms(timeout)));
  if (!m) return std::nullopt;
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    // read_committed: the end is the last stable offset, before any transaction still open.
    impl_->at_end[{rd_kafka_topic_name(m->rkt), m->partition}] = m->offset;
    return std::nullopt;
  }
  if (m->err) {
    native::throw_if_fatal(impl_->rk.get(), "reader");
    static RateLimitedLog limited;
    limited(LogLevel::warn, "reader error", {{"error", rd_kafka_message_errstr(m.get())}});
    return std::nullopt;
  }
  auto r = native::to_record(*m);
  impl_->at_end.erase(r.topic_partition());
  impl_->watch.seen(impl_->rk.get(), r.topic_partition(), r.offset, {});
  return r;
}

bool KafkaReader::at_end(const TopicPartition& partition) const {
  return impl_->at_end.count(partition) > 0;
}

Watermarks KafkaReader::watermarks(const TopicPartition& partition, std::chrono::milliseconds timeout) {
  return native::query_watermarks(impl_->rk.get(), partition, timeout);
}

OffsetMap KafkaReader::offsets_for_time(const std::string& topic, std::int64_t timestamp_ms,
                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto n = partition_count(topic, timeout);
  OffsetMap query;
  for (std::int32_t p = 0; p < n; ++p) query[{topic, p}] = timestamp_ms;
  const auto list = native::to_list(query);
  native::check(rd_kafka_offsets_for_times(impl_->rk.get(), list.get(), native::remaining_ms(deadline)),
                "offsets for time in " + topic);
  native::check_partitions(list.get(), "offsets for time in");
  OffsetMap out;
  for (int i = 0; i < list->cnt; ++i) {
    const TopicPartition tp{list->elems[i].topic, list->elems[i].partition};
    auto offset = list->elems[i].offset;
    if (offset < 0)
      offset = native::query_watermarks(impl_->rk.get(), tp,
                                        std::chrono::milliseconds(native::remaining_ms(deadline)))
                   .high;  // no record that late: the end
    out[tp] = offset;
  }
  return out;
}

void KafkaReader::scan(const TopicPartition& partition, const std::function<void(const Record&)>& each,
                       std::chrono::milliseconds timeout, const std::function<bool()>& cancelled) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] { return std::chrono::milliseconds(native::remaining_ms(deadline)); };
  const auto w = watermarks(partition, left());
  if (w.high <= w.low) return;
  const Unassign unassign{*this};
  assign({{partition, w.low}});
  for (;;) {
    if (cancelled && cancelled()) throw Cancelled("reading " + partition.topic + ": stopped");
    if (left().count() == 0)
      throw KafkaError(ErrorKind::timed_out, "reading " + partition.topic + "/" + std::to_string(partition.partition) +
                                                 " to its end: timed out");
    auto r = poll(std::min(left(), std::chrono::milliseconds(100)));
    if (!r) {
      // The end of what is committed. Before the high watermark of the call a transaction is
      // still open (KIP-447's require_stable): wait until it commits or aborts.
      if (const auto end = impl_->at_end.find(partition); end != impl_->at_end.end() && end->second >= w.high) return;
      continue;
    }
    if (r->offset >= w.high) return;
    each(*r);
    if (r->offset + 1 >= w.high) return;
  }
}

std::vector<Record> KafkaReader::tail(const TopicPartition& partition, std::size_t n,
                                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] { return std::chrono::milliseconds(native::remaining_ms(deadline)); };
  const auto w = watermarks(partition, left());
  std::vector<Record> out;
  std::int64_t end = w.high;
  const Unassign unassign{*this};
  while (out.size() < n && end > w.low) {
    const auto want = static_cast<std::int64_t>(std::max<std::size_t>(n - out.size(), 64));
    const auto start = std::max(w.low, end - want);
    assign({{partition, start}});
    std::vector<Record> step;
    for (;;) {
      if (left().count() == 0)
        throw KafkaError(ErrorKind::timed_out, "the last records of " + partition.topic + "/" +
                                                   std::to_string(partition.partition) + ": timed out");
      auto r = poll(std::min(left(), std::chrono::milliseconds(100)));
      if (!r) {
        if (at_end(partition)) break;
        continue;
      }
      if (r->offset >= end) break;
      const bool last = r->offset + 1 >= end;
      step.push_back(std::move(*r));
      if (last) break;
    }
    out.insert(out.begin(), std::make_move_iterator(step.begin()), std::make_move_iterator(step.end()));
    end = start;
  }
  if (out.size() > n) out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(out.size() - n));
  return out;
}

std::optional<Record> KafkaReader::newest(const TopicPartition& partition, std::string_view key,
                                          std::int64_t not_before_ms, std::chrono::milliseconds timeout,
                                          const std::function<bool()>& cancelled) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] { return std::chrono::milliseconds(native::remaining_ms(deadline)); };
  const auto w = watermarks(partition, left());
  const auto low = w.low;
  std::int64_t end = w.high;
  std::int64_t step = 64;
  const Unassign unassign{*this};
  while (end > low) {
    const auto start = std::max(low, end - step);
    assign({{partition, start}});
    std::optional<Record> found;
    bool seen = false, recent = false;  // records in this step; one at or after not_before_ms
    for (;;) {
      if (cancelled && cancelled()) throw Cancelled("newest record of a key: stopped");
      if (left().count() == 0)
        throw KafkaError(ErrorKind::timed_out, "newest record of '" + std::string(key) + "' in " + partition.topic +
                                                   "/" + std::to_string(partition.partition) + ": timed out");
      auto r = poll(std::min(left(), std::chrono::milliseconds(100)));
      if (!r) {
        if (at_end(partition)) break;
        continue;
      }
      if (r->offset >= end) break;
      seen = true;
      recent = recent || r->timestamp >= not_before_ms;
      if (r->key == key) found = std::move(r);
    }
    if (found) return found;
    if (seen && !recent) break;  // the whole step is older than the bound (a step of aborted records is not)
    end = start;
    step *= 4;
  }
  return std::nullopt;
}

}  // namespace cryptoflow::kafka
