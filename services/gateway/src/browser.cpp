#include "browser.hpp"

#include <algorithm>
#include <charconv>

#include "api_detail.hpp"
#include "cryptoflow/kafka/error.hpp"
#include "cryptoflow/kafka/reader.hpp"
#include "cryptoflow/net/http.hpp"
#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow::gateway {
namespace {

using detail::Writer;

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and beyond U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

// Bytes from Kafka as a JSON field: the text when it is UTF-8, else base64 (name_encoding says
// so); over max bytes it is cut (at a character boundary) and name_size gives the whole length.
void bytes_field(Writer& w, std::string_view name, std::string_view bytes, std::size_t max) {
  auto shown = bytes;
  if (bytes.size() > max) {
    std::size_t cut = max;  // text is cut at a character boundary
    while (cut > 0 && (static_cast<unsigned char>(bytes[cut]) & 0xC0) == 0x80) --cut;
    shown = bytes.substr(0, cut);
  }
  const bool text = valid_utf8(shown);
  if (!text) shown = bytes.substr(0, max);
  detail::key(w, name);
  if (text) {
    detail::string(w, shown);
  } else {
    detail::string(w, base64(shown));
    detail::key(w, std::string(name) + "_encoding");
    detail::string(w, "base64");
  }
  if (shown.size() < bytes.size()) {
    detail::key(w, std::string(name) + "_size");
    w.Uint64(bytes.size());
  }
}

Response ok(const rapidjson::StringBuffer& b) {
  return {200, detail::text(b)};
}

// The topics the browser shows (GATEWAY_BROWSE_TOPICS), sorted; never Kafka's own (__consumer_offsets).
std::vector<kafka::TopicInfo> browsable(Cluster& cluster, const BrowserOptions& o) {
  auto all = cluster.topics();
  std::erase_if(all, [&](const auto& t) {
    return t.name.starts_with("__") || std::find(o.topics.begin(), o.topics.end(), t.name) == o.topics.end();
  });
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return all;
}

std::vector<std::string> user_topics(Cluster& cluster, const BrowserOptions& o) {
  std::vector<std::string> out;
  for (const auto& t : browsable(cluster, o)) out.push_back(t.name);
  return out;
}

void write_topic(Writer& w, Cluster& cluster, const kafka::TopicInfo& t) {
  w.StartObject();
  detail::key(w, "topic");
  detail::string(w, t.name);
  detail::key(w, "partitions");
  w.StartArray();
  std::int64_t held = 0;
  for (std::int32_t p = 0; p < t.partitions; ++p) {
    const auto wm = cluster.watermarks({t.name, p});
    held += wm.high - wm.low;
    w.StartObject();
    detail::key(w, "partition");
    w.Int(p);
    detail::key(w, "low");
    w.Int64(wm.low);
    detail::key(w, "high");
    w.Int64(wm.high);
    w.EndObject();
  }
  w.EndArray();
  detail::key(w, "offsets");  // high - low summed: records, plus transaction markers
  w.Int64(held);
  w.EndObject();
}

std::optional<kafka::TopicInfo> find_topic(Cluster& cluster, std::string_view name) {
  for (auto& t : cluster.topics())
    if (t.name == name) return t;
  return std::nullopt;
}

// A topic the browser shows; a topic it does not show is answered as one that does not exist.
std::optional<kafka::TopicInfo> find_topic(Cluster& cluster, const BrowserOptions& o, std::string_view name) {
  if (std::find(o.topics.begin(), o.topics.end(), name) == o.topics.end()) return std::nullopt;
  return find_topic(cluster, name);
}

Response topics(Cluster& cluster, const BrowserOptions& o) {
  const auto all = browsable(cluster, o);
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "topics");
  w.StartArray();
  for (const auto& t : all) write_topic(w, cluster, t);
  w.EndArray();
  w.EndObject();
  return ok(b);
}

Response topic(Cluster& cluster, const BrowserOptions& o, std::string_view name) {
  const auto t = find_topic(cluster, o, name);
  if (!t) return native_error(404, "no such topic: " + std::string(name));
  rapidjson::StringBuffer b;
  Writer w(b);
  write_topic(w, cluster, *t);
  return ok(b);
}

Response messages(const Request& r, Cluster& cluster, const BrowserOptions& o, std::string_view name,
                  std::string_view partition_text) {
  std::int32_t partition = -1;
  const auto [end, ec] =
      std::from_chars(partition_text.data(), partition_text.data() + partition_text.size(), partition);
  if (ec != std::errc() || end != partition_text.data() + partition_text.size() || partition < 0)
    return native_error(400, "partition must be a partition number", "partition");
  const auto limit = detail::int_param(r, "limit", 1, static_cast<std::int64_t>(o.max_messages));
  if (std::holds_alternative<detail::BadParameter>(limit))
    return native_error(400, "limit must be 1.." + std::to_string(o.max_messages), "limit");
  const auto n = static_cast<std::size_t>(std::get<0>(limit).value_or(static_cast<std::int64_t>(o.default_messages)));
  const auto t = find_topic(cluster, o, name);
  if (!t) return native_error(404, "no such topic: " + std::string(name));
  if (partition >= t->partitions)
    return native_error(404, std::string(name) + " has " + std::to_string(t->partitions) + " partitions");
  const kafka::TopicPartition tp{t->name, partition};
  const auto wm = cluster.watermarks(tp);
  const auto records = cluster.tail(tp, n);
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "topic");
  detail::string(w, t->name);
  detail::key(w, "partition");
  w.Int(partition);
  detail::key(w, "low");
  w.Int64(wm.low);
  detail::key(w, "high");
  w.Int64(wm.high);
  detail::key(w, "messages");
  w.StartArray();
  for (const auto& m : records) {
    w.StartObject();
    detail::key(w, "offset");
    w.Int64(m.offset);
    detail::key(w, "timestamp");
    w.Int64(m.timestamp);
    bytes_field(w, "key", m.key, o.max_value_bytes);
    bytes_field(w, "value", m.value, o.max_value_bytes);
    detail::key(w, "headers");
    w.StartArray();
    for (const auto& h : m.headers) {
      w.StartObject();
      bytes_field(w, "key", h.key, o.max_value_bytes);
      bytes_field(w, "value", h.value, o.max_value_bytes);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return ok(b);
}

// One group: its committed partitions (of every topic) with their lag.
bool write_group(Writer& w, Cluster& cluster, const std::vector<std::string>& topic_names, const std::string& group) {
  auto lag = cluster.group_lag(group, topic_names);
  std::erase_if(lag, [](const auto& l) { return !l.second.committed; });
  w.StartObject();
  detail::key(w, "group");
  detail::string(w, group);
  std::int64_t total = 0;
  for (const auto& [tp, l] : lag) total += l.lag();
  detail::key(w, "lag");
  w.Int64(total);
  detail::key(w, "partitions");
  w.StartArray();
  for (const auto& [tp, l] : lag) {
    w.StartObject();
    detail::key(w, "topic");
    detail::string(w, tp.topic);
    detail::key(w, "partition");
    w.Int(tp.partition);
    detail::key(w, "committed");
    w.Int64(*l.committed);
    detail::key(w, "high");
    w.Int64(l.watermarks.high);
    detail::key(w, "lag");
    w.Int64(l.lag());
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return !lag.empty();
}

// The groups named in GATEWAY_GROUPS. The cluster is not asked to list its groups: librdkafka
// 2.0.2's ListConsumerGroups leaks 176 bytes per call a broker refuses (LeakSanitizer, against
// dev-broker's mock cluster, which refuses it).
Response groups(Cluster& cluster, const BrowserOptions& o, std::optional<std::string_view> only) {
  const auto names = user_topics(cluster, o);
  rapidjson::StringBuffer b;
  Writer w(b);
  if (only) {
    if (!write_group(w, cluster, names, std::string(*only)))
      return native_error(404, "no consumer group with committed offsets: " + std::string(*only));
    return ok(b);
  }
  w.StartObject();
  detail::key(w, "groups");
  w.StartArray();
  for (const auto& g : o.known_groups) write_group(w, cluster, names, g);
  w.EndArray();
  w.EndObject();
  return ok(b);
}

}  // namespace

Response browser_api(const Request& request, Cluster& cluster, const BrowserOptions& options) {
  std::vector<std::string_view> parts;  // "/v1/topics/x/partitions/0/messages" -> v1 topics x ...
  for (std::string_view rest = request.path; !rest.empty();) {
    const auto slash = rest.find('/');
    if (slash != 0) parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  try {
    if (parts.size() == 2 && parts[1] == "topics") return topics(cluster, options);
    if (parts.size() == 3 && parts[1] == "topics") return topic(cluster, options, parts[2]);
    if (parts.size() == 6 && parts[1] == "topics" && parts[3] == "partitions" && parts[5] == "messages")
      return messages(request, cluster, options, parts[2], parts[4]);
    if (parts.size() == 2 && parts[1] == "groups") return groups(cluster, options, std::nullopt);
    if (parts.size() == 3 && parts[1] == "groups") return groups(cluster, options, parts[2]);
  } catch (const std::exception& e) {
    return native_error(503, std::string("the Kafka cluster did not answer: ") + e.what());
  }
  return native_error(404, "not found: " + request.path);
}

KafkaCluster::KafkaCluster(const kafka::Properties& props, std::chrono::milliseconds timeout)
    : admin_(props), reader_(std::make_unique<kafka::KafkaReader>(props, "gateway-browser")), timeout_(timeout) {}

KafkaCluster::~KafkaCluster() = default;

std::vector<kafka::TopicInfo> KafkaCluster::topics() {
  return admin_.topics(timeout_);
}
kafka::Watermarks KafkaCluster::watermarks(const kafka::TopicPartition& partition) {
  return admin_.watermarks(partition, timeout_);
}
std::vector<kafka::Record> KafkaCluster::tail(const kafka::TopicPartition& partition, std::size_t n) {
  return reader_->tail(partition, n, timeout_);
}
std::map<kafka::TopicPartition, kafka::PartitionLag> KafkaCluster::group_lag(const std::string& group,
                                                                             const std::vector<std::string>& topics) {
  return admin_.group_lag(group, topics, timeout_);
}

Worker::Worker(std::size_t max_pending, std::chrono::milliseconds tick_every, std::function<void()> tick)
    : max_pending_(max_pending), tick_every_(tick_every), tick_(std::move(tick)), thread_([this] { run(); }) {}

Worker::~Worker() {
  stop();
}

void Worker::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Worker::submit(std::function<void()> job) {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= max_pending_) return false;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void Worker::run() {
  auto next_tick = std::chrono::steady_clock::now();
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_tick, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      if (!queue_.empty()) {
        job = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (job) job();
    if (std::chrono::steady_clock::now() < next_tick) continue;
    next_tick = std::chrono::steady_clock::now() + tick_every_;
    if (tick_) tick_();
  }
}

TopicBrowser::TopicBrowser(std::unique_ptr<Cluster> cluster, BrowserOptions options, std::string dead_letter_topic,
                           std::size_t max_pending, std::chrono::milliseconds dead_letter_every)
    : cluster_(std::move(cluster)),
      options_(std::move(options)),
      dead_letter_topic_(std::move(dead_letter_topic)),
      worker_(max_pending, dead_letter_every, [this] { count_dead_letters(); }) {}

bool TopicBrowser::submit(Request request, std::function<void(Response)> done) {
  return worker_.submit(
      [this, r = std::move(request), done = std::move(done)] { done(browser_api(r, *cluster_, options_)); });
}

std::optional<std::int64_t> TopicBrowser::dead_letters() const {
  const auto n = dead_letters_.load();
  return n < 0 ? std::nullopt : std::optional<std::int64_t>(n);
}

void TopicBrowser::count_dead_letters() {
  if (dead_letter_topic_.empty()) return;
  static RateLimitedLog failed;
  try {
    const auto t = find_topic(*cluster_, dead_letter_topic_);
    std::int64_t total = 0;
    for (std::int32_t p = 0; t && p < t->partitions; ++p) {
      const auto wm = cluster_->watermarks({t->name, p});
      total += wm.high - wm.low;
    }
    dead_letters_ = total;
  } catch (const std::exception& e) {
    dead_letters_ = -1;
    failed(LogLevel::warn, "gateway: cannot count the dead letters", {{"error", e.what()}});
  }
}

}  // namespace cryptoflow::gateway
