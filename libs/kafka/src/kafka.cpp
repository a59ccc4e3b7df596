#include "cryptoflow/kafka.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <thread>

#include "cryptoflow/log.hpp"

namespace cryptoflow::kafka {
namespace {

void on_error(rd_kafka_t* rk, int err, const char* reason, void*) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    rd_kafka_fatal_error(rk, buf, sizeof buf);
    log_error("kafka fatal error", {{"client", rd_kafka_name(rk)}, {"error", buf}});
    return;
  }
  // Transient: librdkafka retries by itself (broker down, all brokers down, timeouts).
  static RateLimitedLog limited(std::chrono::seconds(5));
  limited(LogLevel::warn, "kafka error",
          {{"client", rd_kafka_name(rk)}, {"code", rd_kafka_err2name(code)}, {"reason", reason ? reason : ""}});
}

void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const LogLevel l = level <= 3   ? LogLevel::error
                     : level <= 4 ? LogLevel::warn
                     : level <= 6 ? LogLevel::info
                                  : LogLevel::debug;
  log(l, "librdkafka", {{"client", rd_kafka_name(rk)}, {"facility", fac}, {"text", buf}});
}

std::string env_name_for(const std::string& property) {
  std::string out = "KAFKA_";
  for (char c : property) out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

HandlePtr make_handle(rd_kafka_type_t type, ConfPtr conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (!rk) throw ConfigError(std::string("cannot create Kafka client: ") + err);
  conf.release();  // rd_kafka_new owns it now
  return HandlePtr(rk);
}

using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, decltype(&rd_kafka_metadata_destroy)>;

// One topic's partitions and their leaders, asked of the cluster now (librdkafka caches them
// for later produces). Null with err set when the cluster did not answer within the timeout.
MetadataPtr topic_metadata(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout,
                           rd_kafka_resp_err_t& err) {
  std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
      rd_kafka_topic_new(rk, topic.c_str(), nullptr), &rd_kafka_topic_destroy);
  const rd_kafka_metadata_t* md = nullptr;
  err = rkt ? rd_kafka_metadata(rk, 0, rkt.get(), &md, static_cast<int>(timeout.count())) : rd_kafka_last_error();
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && md) {
    rd_kafka_metadata_destroy(md);
    md = nullptr;
  }
  return {md, &rd_kafka_metadata_destroy};
}

}  // namespace

Properties& Properties::set(std::string key, std::string value) {
  items_.emplace_back(std::move(key), std::move(value));
  return *this;
}

std::optional<std::string> Properties::get(const std::string& key) const {
  std::optional<std::string> out;
  for (const auto& [k, v] : items_)
    if (k == key) out = v;
  return out;
}

Properties Properties::from_config(const Config& config) {
  Properties p;
  p.set("bootstrap.servers", config.str("KAFKA_BOOTSTRAP_SERVERS"));
  for (const auto& [name, value] : config.env()) {
    if (name.rfind("KAFKA_", 0) != 0 || name == "KAFKA_BOOTSTRAP_SERVERS" || name.size() == 6) continue;
    std::string prop;
    for (char c : name.substr(6))
      prop += c == '_' ? '.' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    p.set(prop, value);
  }
  return p;
}

ConfPtr make_conf(const Properties& props) {
  ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [k, v] : props.items()) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw ConfigError(env_name_for(k) + " (librdkafka property " + k + "): " + err);
  }
  rd_kafka_conf_set_error_cb(conf.get(), on_error);
  rd_kafka_conf_set_log_cb(conf.get(), on_log);
  return conf;
}

std::int64_t timestamp_of(const rd_kafka_message_t& m) {
  rd_kafka_timestamp_type_t type;
  return rd_kafka_message_timestamp(&m, &type);
}

// ---------------------------------------------------------------------------------------------
Producer::Producer(const Properties& props, MetricsRegistry& metrics, const std::string& transactional_id)
    : delivered_metric_(metrics.counter("cryptoflow_kafka_messages_delivered_total", "Messages acknowledged by Kafka")),
      failed_metric_(metrics.counter("cryptoflow_kafka_delivery_errors_total", "Messages Kafka failed to deliver")),
      queue_full_waits_(metrics.counter("cryptoflow_kafka_queue_full_waits_total",
                                        "Times a produce waited because the local queue was full")) {
  Properties p;
  p.set("linger.ms", "5").set("compression.type", "lz4").set("client.id", "cryptoflow-producer");
  p.set("queue.buffering.max.kbytes", "8192");  // not 1 GB: a replay faster than the broker waits instead
  for (const auto& [k, v] : props.items()) p.set(k, v);
  // Guarantees the services rely on: not overridable.
  p.set("enable.idempotence", "true").set("acks", "all");
  if (!transactional_id.empty()) p.set("transactional.id", transactional_id);
  auto conf = make_conf(p);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Producer::on_delivery);
  rk_ = make_handle(RD_KAFKA_PRODUCER, std::move(conf));
}

Producer::~Producer() {
  if (!flush(std::chrono::seconds(30)))
    log_error("producer closed with undelivered messages", {{"in_flight", in_flight()}});
}

bool Producer::warm_up(const std::vector<std::string>& topics, std::chrono::milliseconds timeout) {
  bool ok = true;
  for (const auto& t : topics) {
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!topic_metadata(rk_.get(), t, timeout, err)) {
      log_warn("topic metadata not available yet", {{"topic", t}, {"error", rd_kafka_err2str(err)}});
      ok = false;
    }
  }
  return ok;
}

void Producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  if (m->err) {
    ++self->failed_;
    self->failed_metric_.inc();
    static RateLimitedLog limited;
    limited(LogLevel::error, "kafka delivery failed",
            {{"topic", rd_kafka_topic_name(m->rkt)}, {"error", rd_kafka_err2str(m->err)}});
  } else {
    ++self->delivered_;
    self->delivered_metric_.inc();
  }
}

void Producer::produce(const std::string& topic, std::string_view key, std::string_view value,
                       std::int64_t timestamp_ms, const std::vector<Header>& headers, std::int32_t partition) {
  for (;;) {
    HeadersPtr hdrs;
    if (!headers.empty()) {
      hdrs.reset(rd_kafka_headers_new(headers.size()));
      for (const auto& h : headers)
        rd_kafka_header_add(hdrs.get(), h.key.data(), static_cast<ssize_t>(h.key.size()), h.value.data(),
                            static_cast<ssize_t>(h.value.size()));
    }
    rd_kafka_vu_t vus[7];
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[1].u.i = RD_KAFKA_MSG_F_COPY;
    vus[2].vtype = RD_KAFKA_VTYPE_KEY;
    vus[2].u.mem = {const_cast<char*>(key.data()), key.size()};
    vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[3].u.mem = {const_cast<char*>(value.data()), value.size()};
    vus[4].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vus[4].u.i64 = timestamp_ms;
    vus[5].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[5].u.i32 = partition;
    vus[6].vtype = RD_KAFKA_VTYPE_HEADERS;
    vus[6].u.headers = hdrs.get();
    std::unique_ptr<rd_kafka_error_t, void (*)(rd_kafka_error_t*)> error(
        rd_kafka_produceva(rk_.get(), vus, hdrs ? 7 : 6), rd_kafka_error_destroy);
    const auto err = error ? rd_kafka_error_code(error.get()) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!err) {
      (void)hdrs.release();  // librdkafka owns the headers once the message is enqueued
      rd_kafka_poll(rk_.get(), 0);
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      queue_full_waits_.inc();
      rd_kafka_poll(rk_.get(), 100);  // serve delivery reports; the queue drains
      check_fatal();
      continue;
    }
    check_fatal();
    throw KafkaError(err, "produce to " + topic + " failed: " + rd_kafka_err2str(err));
  }
}

void Producer::poll(int timeout_ms) {
  rd_kafka_poll(rk_.get(), timeout_ms);
  check_fatal();
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  return rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count())) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

namespace {
std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* parts) {
  std::vector<TopicPartition> out;
  for (int i = 0; i < parts->cnt; ++i) out.push_back({parts->elems[i].topic, parts->elems[i].partition});
  return out;
}

PartitionListPtr to_list(const std::map<TopicPartition, std::int64_t>& offsets) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(std::max<std::size_t>(1, offsets.size()))));
  for (const auto& [tp, off] : offsets)
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = off;
  return list;
}

void throw_if(rd_kafka_error_t* error, const std::string& context) {
  if (error) throw KafkaError::from(error, context);
}
}  // namespace

KafkaError KafkaError::from(rd_kafka_error_t* error, const std::string& context) {
  std::unique_ptr<rd_kafka_error_t, void (*)(rd_kafka_error_t*)> owned(error, rd_kafka_error_destroy);
  KafkaError e(rd_kafka_error_code(error), context + ": " + rd_kafka_error_string(error),
               rd_kafka_error_is_fatal(error) != 0);
  e.retriable_ = rd_kafka_error_is_retriable(error) != 0;
  e.abortable_ = rd_kafka_error_txn_requires_abort(error) != 0;
  return e;
}

void Producer::init_transactions(std::chrono::milliseconds timeout) {
  throw_if(rd_kafka_init_transactions(rk_.get(), static_cast<int>(timeout.count())), "init_transactions");
}

void Producer::begin_transaction() {
  throw_if(rd_kafka_begin_transaction(rk_.get()), "begin_transaction");
}

void Producer::send_offsets_to_transaction(const Consumer& consumer,
                                           const std::map<TopicPartition, std::int64_t>& next_offsets,
                                           std::chrono::milliseconds timeout) {
  if (next_offsets.empty()) return;
  const auto list = to_list(next_offsets);
  std::unique_ptr<rd_kafka_consumer_group_metadata_t, void (*)(rd_kafka_consumer_group_metadata_t*)> meta(
      rd_kafka_consumer_group_metadata(consumer.handle()), rd_kafka_consumer_group_metadata_destroy);
  throw_if(rd_kafka_send_offsets_to_transaction(rk_.get(), list.get(), meta.get(), static_cast<int>(timeout.count())),
           "send_offsets_to_transaction");
}

void Producer::commit_transaction(std::chrono::milliseconds timeout) {
  throw_if(rd_kafka_commit_transaction(rk_.get(), static_cast<int>(timeout.count())), "commit_transaction");
}

void Producer::abort_transaction(std::chrono::milliseconds timeout) {
  throw_if(rd_kafka_abort_transaction(rk_.get(), static_cast<int>(timeout.count())), "abort_transaction");
}

void Producer::check_fatal() const {
  char buf[512];
  const auto err = rd_kafka_fatal_error(rk_.get(), buf, sizeof buf);
  if (err) throw KafkaError(err, std::string("fatal producer error: ") + buf, true);
}

// ---------------------------------------------------------------------------------------------
Consumer::Consumer(const Properties& props, const std::string& group_id, const std::vector<std::string>& topics,
                   Listener listener)
    : listener_(std::move(listener)) {
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
  auto conf = make_conf(p);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Consumer::on_rebalance);
  if (rd_kafka_version() < 0x020200ff) {  // 2.2.0 added fetch.queue.backoff.ms
    char value[32];
    std::size_t size = sizeof value;
    if (rd_kafka_conf_get(conf.get(), "queued.min.messages", value, &size) == RD_KAFKA_CONF_OK)
      queued_min_ = std::atoll(value);
  }
  rk_ = make_handle(RD_KAFKA_CONSUMER, std::move(conf));
  rd_kafka_poll_set_consumer(rk_.get());
  queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));

  PartitionListPtr subs(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const auto& t : topics) rd_kafka_topic_partition_list_add(subs.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  if (const auto err = rd_kafka_subscribe(rk_.get(), subs.get()))
    throw KafkaError(err, std::string("subscribe failed: ") + rd_kafka_err2str(err));
}

Consumer::~Consumer() {
  close();
}

void Consumer::close() {
  if (closed_) return;
  closed_ = true;
  if (const auto err = rd_kafka_consumer_close(rk_.get()))
    log_warn("consumer close", {{"error", rd_kafka_err2str(err)}});
}

void Consumer::on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                            void* opaque) {
  static_cast<Consumer*>(opaque)->rebalance(err, parts);
}

void Consumer::rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  // NULL while the group is being left (close()): keep the protocol seen last.
  if (const char* protocol = rd_kafka_rebalance_protocol(rk_.get()))
    cooperative_ = std::string_view(protocol) == "COOPERATIVE";
  const bool cooperative = cooperative_;
  const auto list = to_vector(parts);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    log_info("partitions assigned", {{"count", static_cast<int>(list.size())}, {"cooperative", cooperative}});
    if (listener_.start_offsets) {
      const auto offsets = listener_.start_offsets(list);
      for (int i = 0; i < parts->cnt; ++i) {
        auto it = offsets.find({parts->elems[i].topic, parts->elems[i].partition});
        if (it != offsets.end()) parts->elems[i].offset = it->second;
      }
    }
    rd_kafka_error_t* e = nullptr;
    if (cooperative) {
      e = rd_kafka_incremental_assign(rk_.get(), parts);
    } else {
      rd_kafka_assign(rk_.get(), parts);
    }
    if (e) {
      log_error("incremental assign failed", {{"error", rd_kafka_error_string(e)}});
      rd_kafka_error_destroy(e);
    }
    assigned_.insert(list.begin(), list.end());
    wake_targets_stale_ = true;
    if (listener_.assigned) listener_.assigned(list);
  } else {
    log_info("partitions revoked",
             {{"count", static_cast<int>(list.size())}, {"lost", rd_kafka_assignment_lost(rk_.get()) != 0}});
    if (listener_.revoked) listener_.revoked(list);
    for (const auto& tp : list) {  // the new owner re-reads what we did not commit
      pending_.erase(tp);
      assigned_.erase(tp);
    }
    wake_targets_stale_ = true;
    if (cooperative) {
      if (auto* e = rd_kafka_incremental_unassign(rk_.get(), parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk_.get(), nullptr);
    }
  }
}

MessagePtr Consumer::poll(int timeout_ms) {
  MessagePtr m(rd_kafka_consumer_poll(rk_.get(), timeout_ms));
  if (queued_min_ > 0) watch_prefetch(!m);
  if (!m) return nullptr;
  if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return nullptr;
    char buf[512];
    if (const auto fatal = rd_kafka_fatal_error(rk_.get(), buf, sizeof buf))
      throw KafkaError(fatal, std::string("fatal consumer error: ") + buf, true);
    static RateLimitedLog limited;
    limited(LogLevel::warn, "consumer error", {{"error", rd_kafka_message_errstr(m.get())}});
    return nullptr;
  }
  return m;
}

// librdkafka before 2.2 stops fetching a partition while the prefetch queue holds
// queued.min.messages and looks again only when its broker thread next wakes up, up to a second
// later: an application that drains the queue faster than that idles (measured: 0.6 s gaps,
// half of the stream-processor's catch-up time). Any request to the broker wakes that thread,
// so when the queue ran full and has drained to an eighth, poll() asks each leader broker of
// an assigned partition for its watermarks (one round trip each), and fetching resumes at once.
void Consumer::watch_prefetch(bool timed_out) {
  if (!timed_out && (++polls_ & 31) != 0) return;  // the length takes the queue's lock
  const auto queued = static_cast<std::int64_t>(rd_kafka_queue_length(queue_.get()));
  if (queued >= queued_min_ - queued_min_ / 8) {
    prefetch_full_ = true;
  } else if (prefetch_full_ && (timed_out || queued <= queued_min_ / 8)) {
    prefetch_full_ = false;
    wake_fetchers();
  }
}

void Consumer::wake_fetchers() {
  if (wake_targets_stale_) {
    wake_targets_.clear();
    std::set<std::string> topics;
    for (const auto& tp : assigned_) topics.insert(tp.topic);
    for (const auto& t : topics) {
      rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
      const auto md = topic_metadata(rk_.get(), t, std::chrono::seconds(5), err);
      if (!md) continue;
      for (int i = 0; i < md->topic_cnt; ++i)
        for (int j = 0; j < md->topics[i].partition_cnt; ++j) {
          const auto& part = md->topics[i].partitions[j];
          if (assigned_.count({t, part.id})) wake_targets_.emplace(part.leader, TopicPartition{t, part.id});
        }
    }
    wake_targets_stale_ = false;
  }
  for (const auto& [leader, tp] : wake_targets_) {
    std::int64_t low = 0, high = 0;
    (void)rd_kafka_query_watermark_offsets(rk_.get(), tp.topic.c_str(), tp.partition, &low, &high, 1000);
  }
  ++fetch_wakeups_;
}

void Consumer::mark_processed(const rd_kafka_message_t& msg) {
  TopicPartition tp{rd_kafka_topic_name(msg.rkt), msg.partition};
  if (assigned_.count(tp)) pending_[std::move(tp)] = msg.offset + 1;
}

PartitionListPtr Consumer::marked_offsets() const {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(pending_.size())));
  for (const auto& [tp, off] : pending_)
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = off;
  return list;
}

bool Consumer::commit_offsets(const std::map<TopicPartition, std::int64_t>& next_offsets) {
  if (next_offsets.empty()) return true;
  const auto list = to_list(next_offsets);
  if (const auto err = rd_kafka_commit(rk_.get(), list.get(), 0)) {
    log_warn("offset commit failed", {{"error", rd_kafka_err2str(err)}});
    return false;
  }
  return true;
}

bool Consumer::commit() {
  if (!commit_offsets(pending_)) return false;
  pending_.clear();
  return true;
}

std::vector<TopicPartition> Consumer::assignment() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(rk_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR || !raw) return {};
  PartitionListPtr list(raw);
  return to_vector(list.get());
}

std::int64_t Consumer::lag() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(rk_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR || !raw) return 0;
  PartitionListPtr list(raw);
  rd_kafka_position(rk_.get(), list.get());
  std::int64_t lag = 0;
  for (int i = 0; i < list->cnt; ++i) {
    const auto& p = list->elems[i];
    int64_t low = 0, high = 0;
    if (p.offset < 0 || rd_kafka_get_watermark_offsets(rk_.get(), p.topic, p.partition, &low, &high) != 0 || high < 0)
      continue;
    lag += std::max<std::int64_t>(0, high - p.offset);
  }
  return lag;
}

void Consumer::seek(const std::map<TopicPartition, std::int64_t>& next_offsets) {
  if (next_offsets.empty()) return;
  const auto list = to_list(next_offsets);
  throw_if(rd_kafka_seek_partitions(rk_.get(), list.get(), 10'000), "seek");
  for (int i = 0; i < list->cnt; ++i)
    if (list->elems[i].err)
      throw KafkaError(list->elems[i].err,
                       std::string("seek ") + list->elems[i].topic + ": " + rd_kafka_err2str(list->elems[i].err));
}

void Consumer::pause_all() {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(rk_.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR && raw) {
    PartitionListPtr list(raw);
    rd_kafka_pause_partitions(rk_.get(), list.get());
  }
}

void Consumer::resume_all() {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(rk_.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR && raw) {
    PartitionListPtr list(raw);
    rd_kafka_resume_partitions(rk_.get(), list.get());
  }
}

// ---------------------------------------------------------------------------------------------
bool cluster_reachable(rd_kafka_t* rk, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 0, nullptr, &md, static_cast<int>(timeout.count())) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return false;
  const bool ok = md->broker_cnt > 0;
  rd_kafka_metadata_destroy(md);
  return ok;
}

bool ensure_topics(const Properties& props, const std::vector<std::string>& topics, int partitions,
                   int replication_factor, std::chrono::milliseconds timeout,
                   const std::map<std::string, std::string>& topic_config) {
  Properties p = props;
  p.set("client.id", "cryptoflow-admin");
  auto rk = make_handle(RD_KAFKA_PRODUCER, make_conf(p));

  const rd_kafka_metadata_t* md = nullptr;
  if (const auto err = rd_kafka_metadata(rk.get(), 1, nullptr, &md, static_cast<int>(timeout.count()))) {
    log_warn("cannot list topics; not creating any", {{"error", rd_kafka_err2str(err)}});
    return false;
  }
  std::vector<std::string> missing;
  for (const auto& t : topics) {
    bool found = false;
    for (int i = 0; i < md->topic_cnt; ++i)
      if (t == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) found = true;
    if (!found && std::find(missing.begin(), missing.end(), t) == missing.end()) missing.push_back(t);
  }
  rd_kafka_metadata_destroy(md);
  if (missing.empty()) return true;

  std::vector<rd_kafka_NewTopic_t*> new_topics;
  char err[512];
  for (const auto& t : missing) {
    if (auto* nt = rd_kafka_NewTopic_new(t.c_str(), partitions, replication_factor, err, sizeof err)) {
      for (const auto& [k, v] : topic_config) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
      new_topics.push_back(nt);
    } else
      log_warn("cannot describe topic to create", {{"topic", t}, {"error", err}});
  }
  QueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_CreateTopics(rk.get(), new_topics.data(), new_topics.size(), nullptr, queue.get());
  rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
  std::unique_ptr<rd_kafka_event_t, void (*)(rd_kafka_event_t*)> ev(
      rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count())), rd_kafka_event_destroy);
  if (!ev) {
    log_warn("CreateTopics did not answer; create the topics yourself",
             {{"missing", static_cast<int>(missing.size())}});
    return false;
  }
  if (rd_kafka_event_error(ev.get())) {
    log_warn("CreateTopics refused; create the topics yourself", {{"error", rd_kafka_event_error_string(ev.get())}});
    return false;
  }
  bool all_ok = true;
  size_t n = 0;
  const auto* result = rd_kafka_event_CreateTopics_result(ev.get());
  const auto** results = rd_kafka_CreateTopics_result_topics(result, &n);
  for (size_t i = 0; i < n; ++i) {
    const auto e = rd_kafka_topic_result_error(results[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      log_info("topic ready", {{"topic", rd_kafka_topic_result_name(results[i])}});
    } else {
      all_ok = false;
      log_warn("topic not created",
               {{"topic", rd_kafka_topic_result_name(results[i])}, {"error", rd_kafka_err2str(e)}});
    }
  }
  return all_ok;
}

bool ensure_topics(const Config& config, const Properties& props, const std::vector<std::string>& topics) {
  return ensure_topics(props, topics, static_cast<int>(config.integer("TOPIC_PARTITIONS", 1, 10000)),
                       static_cast<int>(config.integer("TOPIC_REPLICATION_FACTOR", 1, 16)));
}

void send_to_dead_letter(Producer& producer, const std::string& dead_letter_topic, const rd_kafka_message_t& original,
                         const std::string& error, const std::vector<Header>& extra_headers) {
  std::vector<Header> headers{{"error", error},
                              {"source.topic", topic_of(original)},
                              {"source.partition", std::to_string(original.partition)},
                              {"source.offset", std::to_string(original.offset)}};
  headers.insert(headers.end(), extra_headers.begin(), extra_headers.end());
  producer.produce(dead_letter_topic, key_of(original), value_of(original),
                   std::max<std::int64_t>(0, timestamp_of(original)), headers);
}

}  // namespace cryptoflow::kafka
