#include "cryptoflow/kafka/admin.hpp"

#include <algorithm>
#include <set>
#include <thread>

#include "cryptoflow/kafka/topic_creator.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "native.hpp"

namespace cryptoflow::kafka {
namespace {

native::AdminOptionsPtr admin_options(rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout) {
  native::AdminOptionsPtr o(rd_kafka_AdminOptions_new(rk, op));
  char err[512];
  native::check(rd_kafka_AdminOptions_set_request_timeout(o.get(), native::to_ms(timeout), err, sizeof err),
                std::string("admin request timeout: ") + err);
  return o;
}

// Waits for an admin request's answer; throws if none comes or the request as a whole failed,
// Cancelled once stop() is true.
native::EventPtr await(rd_kafka_queue_t* queue, std::chrono::milliseconds timeout, const std::string& what,
                       const std::function<bool()>& stop = {}) {
  // The request times out by itself (admin_options); the queue waits a little longer for that answer.
  const auto deadline = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(1);
  native::EventPtr ev;
  while (!ev && std::chrono::steady_clock::now() < deadline) {
    if (stop && stop()) throw Cancelled(what + ": stopped");
    ev.reset(rd_kafka_queue_poll(queue, std::min(200, native::remaining_ms(deadline))));
  }
  if (!ev)
    throw KafkaError(ErrorKind::timed_out, what + ": no answer within " + std::to_string(timeout.count()) + " ms");
  if (const auto err = rd_kafka_event_error(ev.get()))
    throw KafkaError(native::classify(err), what + ": " + rd_kafka_event_error_string(ev.get()),
                     rd_kafka_err2name(err));
  return ev;
}

}  // namespace

struct KafkaAdmin::Impl {
  native::HandlePtr rk;
};

KafkaAdmin::KafkaAdmin(const Properties& props) : impl_(std::make_unique<Impl>()) {
  Properties p;
  p.set("client.id", "cryptoflow-admin");
  for (const auto& [k, v] : props.items()) p.set(k, v);
  impl_->rk = native::make_handle(RD_KAFKA_PRODUCER, native::make_conf(p, RD_KAFKA_PRODUCER));
}

KafkaAdmin::~KafkaAdmin() = default;

std::vector<TopicInfo> KafkaAdmin::topics(std::chrono::milliseconds timeout) {
  const auto md = native::cluster_metadata(impl_->rk.get(), true, timeout);
  std::vector<TopicInfo> out;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      out.push_back({md->topics[i].topic, md->topics[i].partition_cnt});
  std::sort(out.begin(), out.end(), [](const TopicInfo& a, const TopicInfo& b) { return a.name < b.name; });
  return out;
}

TopicsReport KafkaAdmin::ensure_topics(const std::vector<TopicSpec>& specs, std::chrono::milliseconds timeout,
                                       const std::function<bool()>& stop) {
  TopicsReport report;
  std::vector<TopicInfo> known;
  const auto give_up = [&](const std::string& why) {
    for (const auto& s : specs) report.failed.emplace_back(s.name, why);
    log_warn("cannot list topics; not creating any", {{"error", why}});
    return report;
  };
  // In short attempts, so that a stop request is seen while the cluster does not answer.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    try {
      known =
          topics(std::min(std::chrono::milliseconds(500), std::chrono::milliseconds(native::remaining_ms(deadline))));
      break;
    } catch (const KafkaError& e) {
      if (stop && stop()) return give_up("stopped");
      if (std::chrono::steady_clock::now() >= deadline) return give_up(std::string("cannot list topics: ") + e.what());
    }
  }
  std::vector<const TopicSpec*> missing;
  std::set<std::string> seen;
  for (const auto& s : specs) {
    if (!seen.insert(s.name).second) continue;
    const bool exists = std::any_of(known.begin(), known.end(), [&](const TopicInfo& t) { return t.name == s.name; });
    if (exists)
      report.existing.push_back(s.name);
    else
      missing.push_back(&s);
  }

  if (!missing.empty()) {
    std::vector<rd_kafka_NewTopic_t*> new_topics;
    struct Destroy {
      std::vector<rd_kafka_NewTopic_t*>& v;
      ~Destroy() { rd_kafka_NewTopic_destroy_array(v.data(), v.size()); }
    } destroy{new_topics};
    char err[512];
    for (const auto* s : missing) {
      auto* nt = rd_kafka_NewTopic_new(s->name.c_str(), s->partitions, s->replication_factor, err, sizeof err);
      if (!nt) {
        report.failed.emplace_back(s->name, err);
        continue;
      }
      new_topics.push_back(nt);
      for (const auto& [k, v] : s->config)
        if (const auto e = rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str()))
          report.failed.emplace_back(s->name, k + "=" + v + ": " + rd_kafka_err2str(e));
    }
    native::QueuePtr queue(rd_kafka_queue_new(impl_->rk.get()));
    const auto options = admin_options(impl_->rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout);
    rd_kafka_CreateTopics(impl_->rk.get(), new_topics.data(), new_topics.size(), options.get(), queue.get());
    try {
      const auto ev = await(queue.get(), timeout, "CreateTopics", stop);
      std::size_t n = 0;
      const auto** results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
      for (std::size_t i = 0; i < n; ++i) {
        const auto e = rd_kafka_topic_result_error(results[i]);
        const std::string name = rd_kafka_topic_result_name(results[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
          report.created.push_back(name);
        else if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
          report.existing.push_back(name);
        else
          report.failed.emplace_back(name, rd_kafka_err2str(e));
      }
    } catch (const std::exception& e) {  // KafkaError, or Cancelled
      for (const auto* s : missing) report.failed.emplace_back(s->name, e.what());
    }
  }

  for (const auto& t : report.created) log_info("topic created", {{"topic", t}});
  for (const auto& [t, why] : report.failed)
    log_warn("topic not created; create it yourself", {{"topic", t}, {"error", why}});
  return report;
}

std::vector<std::pair<std::string, std::string>> KafkaAdmin::check_configs(const std::vector<TopicSpec>& topics,
                                                                           std::chrono::milliseconds timeout) {
  std::vector<std::pair<std::string, std::string>> mismatched;
  for (const auto& spec : topics) {
    if (spec.config.empty()) continue;
    std::optional<std::map<std::string, std::string>> actual;
    try {
      actual = topic_config(spec.name, timeout);
    } catch (const KafkaError& e) {
      log_warn("cannot check the topic's configuration", {{"topic", spec.name}, {"error", e.what()}});
      continue;
    }
    if (!actual) continue;  // the broker cannot describe configurations
    for (const auto& [k, v] : spec.config)
      if (auto it = actual->find(k); it == actual->end() || it->second != v)
        mismatched.emplace_back(spec.name,
                                k + " is '" + (it == actual->end() ? "" : it->second) + "', expected '" + v + "'");
  }
  for (const auto& [t, what] : mismatched) log_warn("topic configured differently", {{"topic", t}, {"config", what}});
  return mismatched;
}

std::optional<std::map<std::string, std::string>> KafkaAdmin::topic_config(const std::string& topic,
                                                                           std::chrono::milliseconds timeout) {
  rd_kafka_ConfigResource_t* resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  struct Destroy {
    rd_kafka_ConfigResource_t* r;
    ~Destroy() { rd_kafka_ConfigResource_destroy(r); }
  } destroy{resource};
  native::QueuePtr queue(rd_kafka_queue_new(impl_->rk.get()));
  const auto options = admin_options(impl_->rk.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout);
  rd_kafka_DescribeConfigs(impl_->rk.get(), &resource, 1, options.get(), queue.get());
  native::EventPtr ev;
  try {
    ev = await(queue.get(), timeout, "DescribeConfigs " + topic);
  } catch (const KafkaError& e) {
    if (e.code() == "UNSUPPORTED_VERSION" || e.code() == "_UNSUPPORTED_FEATURE") return std::nullopt;
    throw;
  }
  std::size_t n = 0;
  const auto** resources =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  if (n != 1) throw KafkaError(ErrorKind::failed, "DescribeConfigs " + topic + ": no answer for the topic");
  if (const auto err = rd_kafka_ConfigResource_error(resources[0])) {
    if (err == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION || err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
      return std::nullopt;
    throw native::to_error(err, "DescribeConfigs " + topic);
  }
  std::map<std::string, std::string> out;
  std::size_t m = 0;
  const auto** entries = rd_kafka_ConfigResource_configs(resources[0], &m);
  for (std::size_t i = 0; i < m; ++i) {
    const char* value = rd_kafka_ConfigEntry_value(entries[i]);
    out[rd_kafka_ConfigEntry_name(entries[i])] = value ? value : "";
  }
  return out;
}

OffsetMap KafkaAdmin::committed(const std::string& group, const std::vector<TopicPartition>& partitions,
                                std::chrono::milliseconds timeout) {
  OffsetMap out;
  if (partitions.empty()) return out;
  const auto list = native::to_list(partitions);
  rd_kafka_ListConsumerGroupOffsets_t* request = rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), list.get());
  struct Destroy {
    rd_kafka_ListConsumerGroupOffsets_t* r;
    ~Destroy() { rd_kafka_ListConsumerGroupOffsets_destroy(r); }
  } destroy{request};
  native::QueuePtr queue(rd_kafka_queue_new(impl_->rk.get()));
  const auto options = admin_options(impl_->rk.get(), RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout);
  // KIP-447: wait for offsets that a pending transaction is about to commit.
  native::check(rd_kafka_AdminOptions_set_require_stable_offsets(options.get(), 1), "require_stable_offsets");
  rd_kafka_ListConsumerGroupOffsets(impl_->rk.get(), &request, 1, options.get(), queue.get());
  const auto ev = await(queue.get(), timeout, "committed offsets of group " + group);
  std::size_t n = 0;
  const auto** groups =
      rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev.get()), &n);
  if (n != 1) throw KafkaError(ErrorKind::failed, "committed offsets of group " + group + ": no answer");
  if (const auto* e = rd_kafka_group_result_error(groups[0]))
    throw KafkaError(native::classify(rd_kafka_error_code(e)),
                     "committed offsets of group " + group + ": " + rd_kafka_error_string(e), rd_kafka_error_name(e));
  const auto* parts = rd_kafka_group_result_partitions(groups[0]);
  native::check_partitions(parts, "committed offset of group " + group + " for");
  for (int i = 0; i < parts->cnt; ++i)
    if (parts->elems[i].offset >= 0) out[{parts->elems[i].topic, parts->elems[i].partition}] = parts->elems[i].offset;
  return out;
}

std::map<TopicPartition, PartitionLag> KafkaAdmin::group_lag(const std::string& group,
                                                             const std::vector<std::string>& topics,
                                                             std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] { return std::chrono::milliseconds(native::remaining_ms(deadline)); };
  std::vector<TopicPartition> parts;
  for (const auto& t : topics) {
    const auto n = native::partition_count(impl_->rk.get(), t, left());
    for (std::int32_t p = 0; p < n; ++p) parts.push_back({t, p});
  }
  const auto offsets = committed(group, parts, left());
  std::map<TopicPartition, PartitionLag> out;
  for (const auto& tp : parts) {
    auto& l = out[tp];
    if (auto it = offsets.find(tp); it != offsets.end()) l.committed = it->second;
    l.watermarks = watermarks(tp, left());
  }
  return out;
}

Watermarks KafkaAdmin::watermarks(const TopicPartition& partition, std::chrono::milliseconds timeout) {
  return native::query_watermarks(impl_->rk.get(), partition, timeout);
}

bool KafkaAdmin::reachable(std::chrono::milliseconds timeout) const {
  try {
    return native::cluster_metadata(impl_->rk.get(), false, timeout)->broker_cnt > 0;
  } catch (const KafkaError&) {
    return false;
  }
}

}  // namespace cryptoflow::kafka

namespace cryptoflow::kafka {
namespace {

// Creates what is missing before the service starts; checks the configuration of what exists
// beside it (a warning at most, and a cluster without a controller, like dev-broker's mock,
// would hold the start for the whole timeout).
class AdminTopicCreator final : public TopicCreator {
 public:
  explicit AdminTopicCreator(const Config& config) : props_(Properties::from_config(config)) {}
  ~AdminTopicCreator() override {
    for (auto& c : checks_) c.join();
  }
  AdminTopicCreator(const AdminTopicCreator&) = delete;
  AdminTopicCreator& operator=(const AdminTopicCreator&) = delete;

  void ensure(const std::vector<TopicRequest>& topics, int partitions, int replication_factor,
              const std::function<bool()>& stop) override {
    std::vector<TopicSpec> specs;
    for (const auto& t : topics) specs.push_back({t.name, partitions, replication_factor, t.config});
    auto admin = std::make_shared<KafkaAdmin>(props_);
    (void)admin->ensure_topics(specs, std::chrono::seconds(10), stop);  // the report is logged; never fatal
    if (stop()) return;
    if (std::any_of(specs.begin(), specs.end(), [](const TopicSpec& s) { return !s.config.empty(); }))
      checks_.emplace_back([admin, specs] { (void)admin->check_configs(specs, std::chrono::seconds(5)); });
  }

 private:
  Properties props_;
  std::vector<std::thread> checks_;
};

}  // namespace

std::unique_ptr<TopicCreator> topic_creator(const Config& config) {
  return std::make_unique<AdminTopicCreator>(config);
}

}  // namespace cryptoflow::kafka
