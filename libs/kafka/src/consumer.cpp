#include "cryptoflow/kafka/consumer.hpp"

#include <cstdlib>
#include <exception>
#include <map>
#include <set>

#include "cryptoflow/runtime/log.hpp"
#include "native.hpp"
#include "offset_watch.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace cryptoflow::kafka {

struct KafkaConsumer::Impl {
  static void on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<Impl*>(opaque)->rebalance(err, parts);
  }

  // Runs inside librdkafka's C frames: nothing may be thrown from here. The first error is kept
  // and rethrown by poll() or close() once librdkafka returns.
  void rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) noexcept {
    auto keep = [&] {
      if (!listener_error) listener_error = std::current_exception();
    };
    try {
      // NULL while the group is being left (close()): keep the protocol seen last.
      if (const char* protocol = rd_kafka_rebalance_protocol(rk.get()))
        cooperative = std::string_view(protocol) == "COOPERATIVE";
      const auto list = native::to_vector(parts);
      if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("partitions assigned", {{"count", static_cast<int>(list.size())}, {"cooperative", cooperative}});
        assigned_once = true;
        try {
          if (listener.assigned) {
            const auto offsets = listener.assigned(list);
            for (int i = 0; i < parts->cnt; ++i)
              if (auto it = offsets.find({parts->elems[i].topic, parts->elems[i].partition}); it != offsets.end())
                parts->elems[i].offset = it->second;
          }
        } catch (...) {
          keep();
        }
        for (int i = 0; i < parts->cnt; ++i)
          watch.expect({parts->elems[i].topic, parts->elems[i].partition},
                       parts->elems[i].offset >= 0 ? parts->elems[i].offset : native::OffsetWatch::kUnknown);
        // Assigned whatever the listener did: librdkafka's state must follow the group's.
        if (cooperative)
          native::check(rd_kafka_incremental_assign(rk.get(), parts), "incremental assign");
        else
          native::check(rd_kafka_assign(rk.get(), parts), "assign");
        assigned.insert(list.begin(), list.end());
      } else {
        const bool lost = rd_kafka_assignment_lost(rk.get()) != 0;
        log_info("partitions revoked", {{"count", static_cast<int>(list.size())}, {"lost", lost}});
        try {
          if (listener.revoked) listener.revoked(list, lost);
        } catch (...) {
          keep();
        }
        for (const auto& tp : list) {
          assigned.erase(tp);
          watch.forget(tp);
        }
        if (cooperative)
          native::check(rd_kafka_incremental_unassign(rk.get(), parts), "incremental unassign");
        else
          native::check(rd_kafka_assign(rk.get(), nullptr), "unassign");
      }
      wake_targets_stale = true;
    } catch (...) {
      keep();
    }
  }

  void rethrow_listener_error() {
    if (listener_error) std::rethrow_exception(std::exchange(listener_error, nullptr));
  }

  // librdkafka before 2.2 stops fetching a partition while the prefetch queue holds
  // queued.min.messages and looks again only when its broker thread next wakes up, up to a
  // second later: an application that drains the queue faster than that idles (measured: 0.6 s
  // gaps, half of the stream-processor's catch-up time). Any request to the broker wakes that
  // thread, so when the queue ran full and has drained to an eighth, poll() asks each leader
  // broker of an assigned partition for its watermarks (one round trip each), and fetching
  // resumes at once.
  void watch_prefetch(bool timed_out) {
    if (!timed_out && (++polls & 31) != 0) return;  // the length takes the queue's lock
    const auto queued = static_cast<std::int64_t>(rd_kafka_queue_length(queue.get()));
    if (queued >= queued_min - queued_min / 8) {
      prefetch_full = true;
    } else if (prefetch_full && (timed_out || queued <= queued_min / 8)) {
      prefetch_full = false;
      wake_fetchers();
    }
  }

  void wake_fetchers() {
    if (wake_targets_stale) {
      wake_targets.clear();
      std::set<std::string> topics;
      for (const auto& tp : assigned) topics.insert(tp.topic);
      for (const auto& t : topics) {
        try {
          const auto md = native::metadata(rk.get(), t, std::chrono::seconds(5));
          for (int i = 0; i < md->topic_cnt; ++i)
            for (int j = 0; j < md->topics[i].partition_cnt; ++j) {
              const auto& part = md->topics[i].partitions[j];
              if (assigned.count({t, part.id})) wake_targets.emplace(part.leader, TopicPartition{t, part.id});
            }
        } catch (const KafkaError&) {
          // no wake-up for this topic this time; librdkafka's own timer still fetches
        }
      }
      wake_targets_stale = false;
    }
    for (const auto& [leader, tp] : wake_targets) {
      std::int64_t low = 0, high = 0;
      // Only the round trip matters: its answer (or its failure) is of no use.
      (void)rd_kafka_query_watermark_offsets(rk.get(), tp.topic.c_str(), tp.partition, &low, &high, 1000);
    }
    ++fetch_wakeups;
  }

  native::HandlePtr rk;
  native::QueuePtr queue;
  std::string group_id;
  RebalanceListener listener;
  std::exception_ptr listener_error;
  std::set<TopicPartition> assigned;
  native::OffsetWatch watch;  // offsets skipped past retention
  bool closed = false;
  bool subscribed = false;     // a group member (subscribe), not only assign()
  bool assigned_once = false;  // an assignment arrived: the cooperative-sticky assignor has its state
  bool cooperative = true;     // the rebalance protocol in use (cooperative-sticky unless overridden)
  // Prefetch stall workaround (librdkafka < 2.2).
  std::int64_t queued_min = 0;  // queued.min.messages; 0 when the workaround is off
  bool prefetch_full = false;   // the queue reached the threshold since the last wake-up
  std::uint32_t polls = 0;
  std::map<std::int32_t, TopicPartition> wake_targets;  // one assigned partition per leader broker
  bool wake_targets_stale = true;
  std::uint64_t fetch_wakeups = 0;
};

KafkaConsumer::KafkaConsumer(const Properties& props, const std::string& group_id) : impl_(std::make_unique<Impl>()) {
  impl_->group_id = group_id;
  Properties p;
  p.set("auto.offset.reset", "earliest").set("fetch.wait.max.ms", "10").set("client.id", "cryptoflow-consumer");
  // Memory (docs/benchmarks.md): librdkafka's defaults let a consumer prefetch 100,000 records
  // or 64 MB and take 50 MB fetch responses; the stream-processor's RSS was 74 MB. A prefetch of
  // 10,000 records and 8 MB fetches bring it to ~30 MB. The byte limit stays above what 10,000
  // small records take: the fetch wake-up (watch_prefetch) watches the record count only. Each
  // partition keeps librdkafka's 1 MB per fetch: with 256 KB a busy partition of a 64-partition
  // topic fell behind a steady 50,000 trades/s (fetches come only as fast as the queue drains).
  p.set("queued.min.messages", "10000").set("queued.max.messages.kbytes", "32768").set("fetch.max.bytes", "8388608");
  for (const auto& [k, v] : props.items()) p.set(k, v);
  p.set("group.id", group_id)
      .set("enable.auto.commit", "false")
      .set("enable.auto.offset.store", "false")
      .set("isolation.level", "read_committed")
      .set("partition.assignment.strategy", "cooperative-sticky")
      .set("enable.partition.eof", "false");
  auto conf = native::make_conf(p, RD_KAFKA_CONSUMER);
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::on_rebalance);
  if (rd_kafka_version() < 0x020200ff) {  // 2.2.0 added fetch.queue.backoff.ms
    char value[32];
    std::size_t size = sizeof value;
    if (rd_kafka_conf_get(conf.get(), "queued.min.messages", value, &size) == RD_KAFKA_CONF_OK)
      impl_->queued_min = std::atoll(value);
  }
  impl_->rk = native::make_handle(RD_KAFKA_CONSUMER, std::move(conf));
  native::check(rd_kafka_poll_set_consumer(impl_->rk.get()), "poll_set_consumer");
  impl_->queue.reset(rd_kafka_queue_get_consumer(impl_->rk.get()));
}

KafkaConsumer::KafkaConsumer(const Properties& props, const std::string& group_id,
                             const std::vector<std::string>& topics)
    : KafkaConsumer(props, group_id) {
  subscribe(topics, {});
}

KafkaConsumer::~KafkaConsumer() {
  try {
    close();
  } catch (const std::exception& e) {
    log_error("consumer close failed", {{"group", impl_->group_id}, {"error", e.what()}});
  }
  // librdkafka before 2.3.0 aborts in rd_kafka_destroy() (rd_kafka_sticky_assignor_state_destroy:
  // Assertion `assignor_state' failed; librdkafka issue 4312) when a consumer that joined a group
  // with cooperative-sticky is destroyed before its first assignment: the assignor's state is
  // made by that assignment and destroyed unchecked. A JoinGroup answer that arrives while
  // close() leaves the group is enough (seen: SIGTERM in 3 of 30 start/stop cycles). So a
  // consumer that never had an assignment is closed (it has left the group) but its handle is
  // not destroyed: it ends with the process. Nothing is lost: it owned no partition.
  if (!impl_->assigned_once && impl_->subscribed && rd_kafka_version() < 0x020300ff) {
    log_info("consumer closed before its first assignment: its handle is left to the process exit",
             {{"group", impl_->group_id}});
    rd_kafka_t* rk = impl_->rk.release();
#if defined(__SANITIZE_ADDRESS__)
    __lsan_ignore_object(rk);  // deliberate: not a leak to report
#endif
    (void)rk;
  }
}

void KafkaConsumer::subscribe(const std::vector<std::string>& topics, RebalanceListener listener) {
  impl_->listener = std::move(listener);
  impl_->subscribed = true;
  const auto list = native::to_list(std::vector<TopicPartition>{});
  for (const auto& t : topics) rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  native::check(rd_kafka_subscribe(impl_->rk.get(), list.get()), "subscribe");
}

std::optional<Record> KafkaConsumer::poll(std::chrono::milliseconds timeout) {
  native::MessagePtr m(rd_kafka_consumer_poll(impl_->rk.get(), native::to_ms(timeout)));
  if (impl_->queued_min > 0) impl_->watch_prefetch(!m);
  impl_->rethrow_listener_error();
  if (!m) return std::nullopt;
  if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return std::nullopt;
    native::throw_if_fatal(impl_->rk.get(), "consumer");
    static RateLimitedLog limited;
    limited(LogLevel::warn, "consumer error", {{"error", rd_kafka_message_errstr(m.get())}});
    return std::nullopt;
  }
  auto r = native::to_record(*m);
  impl_->watch.seen(impl_->rk.get(), r.topic_partition(), r.offset, [&]() -> std::optional<std::int64_t> {
    try {
      const auto c = committed({r.topic_partition()}, std::chrono::seconds(5));
      if (const auto it = c.find(r.topic_partition()); it != c.end()) return it->second;
    } catch (const KafkaError&) {
      // unknown: no skip is claimed
    }
    return std::nullopt;
  });
  return r;
}

void KafkaConsumer::commit(const OffsetMap& next_offsets) {
  if (next_offsets.empty()) return;
  const auto list = native::to_list(next_offsets);
  native::check(rd_kafka_commit(impl_->rk.get(), list.get(), 0), "offset commit");
  native::check_partitions(list.get(), "offset commit");
}

OffsetMap KafkaConsumer::committed(const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) {
  OffsetMap out;
  if (partitions.empty()) return out;
  const auto list = native::to_list(partitions);
  native::check(rd_kafka_committed(impl_->rk.get(), list.get(), native::to_ms(timeout)), "committed offsets");
  native::check_partitions(list.get(), "committed offset of");
  for (int i = 0; i < list->cnt; ++i)
    if (list->elems[i].offset >= 0) out[{list->elems[i].topic, list->elems[i].partition}] = list->elems[i].offset;
  return out;
}

void KafkaConsumer::seek(const OffsetMap& next_offsets) {
  if (next_offsets.empty()) return;
  const auto list = native::to_list(next_offsets);
  native::check(rd_kafka_seek_partitions(impl_->rk.get(), list.get(), 10'000), "seek");
  native::check_partitions(list.get(), "seek");
  for (const auto& [tp, offset] : next_offsets)
    impl_->watch.expect(tp, offset >= 0 ? offset : native::OffsetWatch::kUnknown);
}

void KafkaConsumer::pause(const std::vector<TopicPartition>& partitions) {
  if (partitions.empty()) return;
  const auto list = native::to_list(partitions);
  native::check(rd_kafka_pause_partitions(impl_->rk.get(), list.get()), "pause");
  native::check_partitions(list.get(), "pause");
}

void KafkaConsumer::resume(const std::vector<TopicPartition>& partitions) {
  if (partitions.empty()) return;
  const auto list = native::to_list(partitions);
  native::check(rd_kafka_resume_partitions(impl_->rk.get(), list.get()), "resume");
  native::check_partitions(list.get(), "resume");
}

std::vector<TopicPartition> KafkaConsumer::assignment() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  const auto err = rd_kafka_assignment(impl_->rk.get(), &raw);
  const native::PartitionListPtr list(raw);
  native::check(err, "assignment");
  return native::to_vector(list.get());
}

std::int64_t KafkaConsumer::lag() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  const auto err = rd_kafka_assignment(impl_->rk.get(), &raw);
  const native::PartitionListPtr list(raw);
  if (err || !list || rd_kafka_position(impl_->rk.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
  std::int64_t lag = 0;
  for (int i = 0; i < list->cnt; ++i) {
    const auto& p = list->elems[i];
    std::int64_t low = 0, high = 0;
    if (p.offset < 0 || rd_kafka_get_watermark_offsets(impl_->rk.get(), p.topic, p.partition, &low, &high) != 0 ||
        high < 0)
      continue;  // not fetched yet: nothing known
    lag += std::max<std::int64_t>(0, high - p.offset);
  }
  return lag;
}

std::int64_t KafkaConsumer::lag(const TopicPartition& partition) const {
  const auto list = native::to_list(std::vector<TopicPartition>{partition});
  std::int64_t low = 0, high = 0;
  if (rd_kafka_position(impl_->rk.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR || list->elems[0].offset < 0 ||
      rd_kafka_get_watermark_offsets(impl_->rk.get(), partition.topic.c_str(), partition.partition, &low, &high) != 0 ||
      high < 0)
    return 0;  // nothing fetched yet: nothing known
  return std::max<std::int64_t>(0, high - list->elems[0].offset);
}

Watermarks KafkaConsumer::watermarks(const TopicPartition& partition, std::chrono::milliseconds timeout) {
  return native::query_watermarks(impl_->rk.get(), partition, timeout);
}

GroupMetadata KafkaConsumer::group_metadata() const {
  rd_kafka_consumer_group_metadata_t* md = rd_kafka_consumer_group_metadata(impl_->rk.get());
  if (!md) throw KafkaError(ErrorKind::failed, "group metadata: not a group member");
  return {impl_->group_id, std::shared_ptr<const void>(md, [](const void* p) {
            rd_kafka_consumer_group_metadata_destroy(
                static_cast<rd_kafka_consumer_group_metadata_t*>(const_cast<void*>(p)));
          })};
}

void KafkaConsumer::close() {
  if (impl_->closed) return;
  impl_->closed = true;
  const auto err = rd_kafka_consumer_close(impl_->rk.get());  // revokes what is assigned: the listener runs
  impl_->listener = {};
  impl_->rethrow_listener_error();
  native::check(err, "consumer close");
}

std::string KafkaConsumer::rebalance_protocol() const {
  const char* protocol = rd_kafka_rebalance_protocol(impl_->rk.get());
  return protocol && std::string_view(protocol) != "NONE" ? protocol : "";
}

std::uint64_t KafkaConsumer::fetch_wakeups() const {
  return impl_->fetch_wakeups;
}

}  // namespace cryptoflow::kafka
