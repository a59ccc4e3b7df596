#pragma once
// The topic browser: the console a team opens to see what is in the topics.
//   /v1/topics                                        topics, partitions, watermarks
//   /v1/topics/<topic>                                one topic
//   /v1/topics/<topic>/partitions/<p>/messages?limit  the last records, headers readable
//   /v1/groups, /v1/groups/<group>                    consumer groups, committed offsets, lag
// The answers are shaped from a Cluster (an interface: the unit tests use a fake). Kafka calls
// block, so ClusterWorker runs them on a thread of their own, never on the I/O or feed thread;
// it also counts the dead letters for the page's pipeline panel.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api.hpp"
#include "cryptoflow/kafka/admin.hpp"
#include "cryptoflow/kafka/record.hpp"

namespace cryptoflow::kafka {
class KafkaReader;
}

namespace cryptoflow::gateway {

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual std::vector<kafka::TopicInfo> topics() = 0;
  virtual kafka::Watermarks watermarks(const kafka::TopicPartition& partition) = 0;
  virtual std::vector<kafka::Record> tail(const kafka::TopicPartition& partition, std::size_t n) = 0;
  virtual std::map<kafka::TopicPartition, kafka::PartitionLag> group_lag(const std::string& group,
                                                                         const std::vector<std::string>& topics) = 0;
};

struct BrowserOptions {
  // The topics it shows (GATEWAY_BROWSE_TOPICS): the market's and the dead letters by default,
  // never the processor's state; another topic is answered as one that does not exist.
  std::vector<std::string> topics{"crypto.trades",     "crypto.tickers",     "crypto.candles",
                                  "crypto.indicators", "crypto.late-trades", "crypto.dead-letter"};
  // The groups /v1/groups shows (GATEWAY_GROUPS).
  std::vector<std::string> known_groups{"stream-processor", "influxdb-sink", "elasticsearch-sink", "s3-sink"};
  std::size_t default_messages = 20;
  std::size_t max_messages = 500;
  std::size_t max_value_bytes = std::size_t{64} * 1024;  // a longer key, value or header is cut, with its size
};

// The answer for a browser path (/v1/topics..., /v1/groups...: routes.cpp), from the cluster; a cluster that does not
// answer is a 503 naming what failed.
Response browser_api(const Request& request, Cluster& cluster, const BrowserOptions& options);

// The real cluster: an admin client and a reader of its own, with a timeout per call.
class KafkaCluster final : public Cluster {
 public:
  KafkaCluster(const kafka::Properties& props, std::chrono::milliseconds timeout);
  ~KafkaCluster() override;
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  std::vector<kafka::TopicInfo> topics() override;
  kafka::Watermarks watermarks(const kafka::TopicPartition& partition) override;
  std::vector<kafka::Record> tail(const kafka::TopicPartition& partition, std::size_t n) override;
  std::map<kafka::TopicPartition, kafka::PartitionLag> group_lag(const std::string& group,
                                                                 const std::vector<std::string>& topics) override;

 private:
  kafka::KafkaAdmin admin_;
  std::unique_ptr<kafka::KafkaReader> reader_;
  std::chrono::milliseconds timeout_;
};

// A thread for blocking calls (the cluster, InfluxDB), off the I/O and feed threads: jobs in
// order, at most max_pending waiting; tick() runs every tick_every between them.
class Worker {
 public:
  explicit Worker(std::size_t max_pending, std::chrono::milliseconds tick_every = std::chrono::hours(1),
                  std::function<void()> tick = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  // false: max_pending jobs are waiting, or the worker has stopped (the caller answers 503).
  bool submit(std::function<void()> job);
  // Ends the thread; jobs still waiting are dropped. Idempotent.
  void stop();

 private:
  void run();
  std::size_t max_pending_;
  std::chrono::milliseconds tick_every_;
  std::function<void()> tick_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

// The browser on its worker; it also counts the dead letters for the page's pipeline panel.
class TopicBrowser {
 public:
  TopicBrowser(std::unique_ptr<Cluster> cluster, BrowserOptions options, std::string dead_letter_topic,
               std::size_t max_pending = 16, std::chrono::milliseconds dead_letter_every = std::chrono::seconds(5));
  // done runs on the worker's thread; false: busy (see Worker::submit).
  bool submit(Request request, std::function<void(Response)> done);
  // Records in the dead-letter topic (high - low watermarks summed) at the last count; nothing
  // before the first count or when it failed.
  [[nodiscard]] std::optional<std::int64_t> dead_letters() const;
  void stop() { worker_.stop(); }

 private:
  void count_dead_letters();
  std::unique_ptr<Cluster> cluster_;
  BrowserOptions options_;
  std::string dead_letter_topic_;
  std::atomic<std::int64_t> dead_letters_{-1};
  Worker worker_;  // last: its thread ends before the rest goes
};

}  // namespace cryptoflow::gateway
