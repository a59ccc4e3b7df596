// The topic browser's answers from a fake cluster: shapes, validation, dead-letter headers,
// bytes that are not text, hostile sizes, a cluster that does not answer; and its worker thread.
#include "gateway/src/browser.hpp"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <future>

#include "cryptoflow/kafka/error.hpp"
#include "gateway/src/routes.hpp"

using namespace cryptoflow;
using namespace cryptoflow::gateway;
using namespace std::chrono_literals;

namespace {

struct FakeCluster : Cluster {
  std::vector<kafka::TopicInfo> listed{
      {"crypto.candles", 2}, {"crypto.dead-letter", 1}, {"__consumer_offsets", 50}, {"crypto.processor-state", 6}};
  std::map<kafka::TopicPartition, kafka::Watermarks> marks{
      {{"crypto.candles", 0}, {0, 10}}, {{"crypto.candles", 1}, {3, 5}}, {{"crypto.dead-letter", 0}, {0, 3}}};
  std::map<kafka::TopicPartition, std::vector<kafka::Record>> records;
  std::map<std::string, kafka::OffsetMap> committed;
  bool down = false;
  std::size_t asked_tail = 0;

  void check() const {
    if (down) throw kafka::KafkaError(kafka::ErrorKind::timed_out, "metadata: no answer within 5000 ms");
  }
  std::vector<kafka::TopicInfo> topics() override {
    check();
    return listed;
  }
  kafka::Watermarks watermarks(const kafka::TopicPartition& tp) override {
    check();
    const auto it = marks.find(tp);
    return it == marks.end() ? kafka::Watermarks{} : it->second;
  }
  std::vector<kafka::Record> tail(const kafka::TopicPartition& tp, std::size_t n) override {
    check();
    asked_tail = n;
    auto all = records[tp];
    if (all.size() > n) all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(n));
    return all;
  }
  std::map<kafka::TopicPartition, kafka::PartitionLag> group_lag(const std::string& group,
                                                                 const std::vector<std::string>& topics) override {
    check();
    std::map<kafka::TopicPartition, kafka::PartitionLag> out;
    for (const auto& t : listed) {
      if (std::find(topics.begin(), topics.end(), t.name) == topics.end()) continue;
      for (std::int32_t p = 0; p < t.partitions; ++p) {
        auto& l = out[{t.name, p}];
        l.watermarks = watermarks({t.name, p});
        if (const auto it = committed[group].find({t.name, p}); it != committed[group].end()) l.committed = it->second;
      }
    }
    return out;
  }
};

bool is_browser_path(const std::string& path) {
  const auto m = match_route(path);
  const MarketStore store;
  return m && runs_on(*m->route, Request{.path = path}, {store, 0}) == Runs::browser;
}

Response get(Cluster& cluster, const std::string& target, const BrowserOptions& options = {}) {
  const auto r = parse_target("GET", target);
  REQUIRE(r.has_value());
  REQUIRE(is_browser_path(r->path));  // the route the server sends to the browser's worker
  return browser_api(*r, cluster, options);
}

rapidjson::Document json(const Response& r) {
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

std::string error_parameter(const Response& r) {
  const auto d = json(r);
  return d["error"].HasMember("parameter") ? d["error"]["parameter"].GetString() : "";
}

}  // namespace

TEST_CASE("topic browser - topics with their partitions and watermarks - Kafka's own topics hidden - one topic") {
  FakeCluster c;
  const auto r = get(c, "/v1/topics");
  REQUIRE(r.status == 200);
  const auto d = json(r);
  const auto& topics = d["topics"];
  REQUIRE(topics.Size() == 2);
  CHECK(std::string(topics[0]["topic"].GetString()) == "crypto.candles");
  REQUIRE(topics[0]["partitions"].Size() == 2);
  CHECK(topics[0]["partitions"][1]["partition"].GetInt() == 1);
  CHECK(topics[0]["partitions"][1]["low"].GetInt64() == 3);
  CHECK(topics[0]["partitions"][1]["high"].GetInt64() == 5);
  CHECK(topics[0]["offsets"].GetInt64() == 12);
  CHECK(std::string(topics[1]["topic"].GetString()) == "crypto.dead-letter");

  const auto one = json(get(c, "/v1/topics/crypto.dead-letter"));
  CHECK(one["partitions"][0]["high"].GetInt64() == 3);
  CHECK(get(c, "/v1/topics/crypto.nothing").status == 404);
  CHECK(get(c, "/v1/topics/crypto.candles/partitions").status == 404);
  CHECK_FALSE(is_browser_path("/v1/topicsx"));
  CHECK_FALSE(is_browser_path("/v1/tickers"));
}

TEST_CASE("topic browser - only GATEWAY_BROWSE_TOPICS are shown - the processor's state is as if it did not exist") {
  FakeCluster c;
  c.marks[{"crypto.processor-state", 0}] = {0, 4};
  CHECK(get(c, "/v1/topics/crypto.processor-state").status == 404);
  CHECK(get(c, "/v1/topics/crypto.processor-state/partitions/0/messages").status == 404);
  const auto all = json(get(c, "/v1/topics"));
  for (const auto& t : all["topics"].GetArray()) CHECK(std::string(t["topic"].GetString()) != "crypto.processor-state");
  BrowserOptions only;
  only.topics = {"crypto.processor-state"};
  const auto chosen = json(get(c, "/v1/topics", only));
  REQUIRE(chosen["topics"].Size() == 1);
  CHECK(std::string(chosen["topics"][0]["topic"].GetString()) == "crypto.processor-state");
  CHECK(get(c, "/v1/topics/crypto.candles", only).status == 404);
}

TEST_CASE("topic browser - the last messages of a partition - dead-letter reasons readable - limits checked") {
  FakeCluster c;
  auto& dl = c.records[{"crypto.dead-letter", 0}];
  for (int i = 0; i < 3; ++i) {
    kafka::Record r{"crypto.dead-letter", 0, i, 1'700'000'000'000 + i, "BTCUSDT", R"({"e":"trade","p":"x"})", {}};
    r.headers = {{"error", "p: not a decimal: \"x\""}, {"source.topic", "crypto.trades"}, {"source.offset", "42"}};
    dl.push_back(r);
  }
  const auto r = get(c, "/v1/topics/crypto.dead-letter/partitions/0/messages?limit=2");
  REQUIRE(r.status == 200);
  CHECK(c.asked_tail == 2);
  const auto d = json(r);
  CHECK(d["high"].GetInt64() == 3);
  const auto& m = d["messages"];
  REQUIRE(m.Size() == 2);
  CHECK(m[0]["offset"].GetInt64() == 1);
  CHECK(m[1]["timestamp"].GetInt64() == 1'700'000'000'002);
  CHECK(std::string(m[1]["key"].GetString()) == "BTCUSDT");
  CHECK(std::string(m[1]["value"].GetString()) == R"({"e":"trade","p":"x"})");
  REQUIRE(m[1]["headers"].Size() == 3);
  CHECK(std::string(m[1]["headers"][0]["key"].GetString()) == "error");
  CHECK(std::string(m[1]["headers"][0]["value"].GetString()) == "p: not a decimal: \"x\"");

  (void)get(c, "/v1/topics/crypto.dead-letter/partitions/0/messages");
  CHECK(c.asked_tail == 20);  // the default
  CHECK(error_parameter(get(c, "/v1/topics/crypto.dead-letter/partitions/0/messages?limit=0")) == "limit");
  CHECK(error_parameter(get(c, "/v1/topics/crypto.dead-letter/partitions/0/messages?limit=501")) == "limit");
  CHECK(error_parameter(get(c, "/v1/topics/crypto.dead-letter/partitions/x/messages")) == "partition");
  CHECK(error_parameter(get(c, "/v1/topics/crypto.dead-letter/partitions/-1/messages")) == "partition");
  CHECK(get(c, "/v1/topics/crypto.dead-letter/partitions/1/messages").status == 404);  // it has one
  CHECK(get(c, "/v1/topics/crypto.none/partitions/0/messages").status == 404);
}

TEST_CASE("topic browser - bytes that are not UTF-8 come as base64 - a hostile size is cut and its length given") {
  FakeCluster c;
  const std::string binary("\x00\xff\xfe\x80 k", 6);
  const std::string huge = std::string(100'000, 'a') + "\xc3\xa9" + std::string(10, 'b');  // é across the cut
  c.records[{"crypto.candles", 0}] = {{"crypto.candles", 0, 9, 1, binary, huge, {{"h", "\xc3\x28"}}}};
  BrowserOptions o;
  o.max_value_bytes = 100'001;  // the cut falls inside "é": text stays whole characters
  const auto d = json(get(c, "/v1/topics/crypto.candles/partitions/0/messages", o));
  const auto& m = d["messages"][0];
  CHECK(std::string(m["key_encoding"].GetString()) == "base64");
  CHECK(std::string(m["key"].GetString()) == "AP/+gCBr");
  CHECK_FALSE(m.HasMember("value_encoding"));
  CHECK(m["value"].GetStringLength() == 100'000);
  CHECK(m["value_size"].GetUint64() == huge.size());
  CHECK(std::string(m["headers"][0]["value_encoding"].GetString()) == "base64");  // an invalid sequence
}

TEST_CASE("topic browser - consumer groups with their lag - the groups it is told to show") {
  FakeCluster c;
  c.committed["stream-processor"] = {{{"crypto.candles", 0}, 4}, {{"crypto.candles", 1}, 5}};
  BrowserOptions o;
  o.known_groups = {"stream-processor", "influxdb-sink"};
  const auto d = json(get(c, "/v1/groups", o));
  REQUIRE(d["groups"].Size() == 2);
  const auto& sp = d["groups"][0];
  CHECK(std::string(sp["group"].GetString()) == "stream-processor");
  CHECK(sp["lag"].GetInt64() == 6);  // 10 - 4 and 5 - 5
  REQUIRE(sp["partitions"].Size() == 2);
  CHECK(sp["partitions"][0]["committed"].GetInt64() == 4);
  CHECK(sp["partitions"][0]["high"].GetInt64() == 10);
  CHECK(sp["partitions"][0]["lag"].GetInt64() == 6);
  CHECK(d["groups"][1]["partitions"].Size() == 0);  // nothing committed yet

  CHECK(std::string(d["groups"][1]["group"].GetString()) == "influxdb-sink");

  const auto one = json(get(c, "/v1/groups/stream-processor", o));
  CHECK(one["lag"].GetInt64() == 6);
  CHECK(get(c, "/v1/groups/nobody", o).status == 404);
}

TEST_CASE("topic browser - a cluster that does not answer is a 503 naming why") {
  FakeCluster c;
  c.down = true;
  for (const auto* target : {"/v1/topics", "/v1/groups", "/v1/topics/crypto.candles/partitions/0/messages"}) {
    const auto r = get(c, target);
    CHECK(r.status == 503);
    CHECK(r.body.find("no answer within 5000 ms") != std::string::npos);
  }
}

TEST_CASE(
    "topic browser - the worker answers in order off the caller's thread - counts the dead letters - refuses past its "
    "queue") {
  auto fake = std::make_unique<FakeCluster>();
  TopicBrowser worker(std::move(fake), {}, "crypto.dead-letter", 2, 10ms);
  std::promise<Response> answered;
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  REQUIRE(worker.submit(*parse_target("GET", "/v1/topics"), [&](Response r) {
    ran_on = std::this_thread::get_id();
    answered.set_value(std::move(r));
  }));
  auto f = answered.get_future();
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  CHECK(f.get().status == 200);
  CHECK(ran_on != caller);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!worker.dead_letters() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  CHECK(worker.dead_letters() == std::optional<std::int64_t>(3));

  // A worker whose cluster is slow: its queue fills, the next request is refused at once.
  struct Slow final : FakeCluster {
    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();
    std::vector<kafka::TopicInfo> topics() override {
      gate.wait();
      return FakeCluster::topics();
    }
  };
  auto slow_owned = std::make_unique<Slow>();
  auto* slow = slow_owned.get();
  TopicBrowser busy(std::move(slow_owned), {}, "", 1, 1h);
  std::atomic<int> done{0};
  const auto count = [&](const Response&) { ++done; };
  REQUIRE(busy.submit(*parse_target("GET", "/v1/topics"), count));
  bool refused = false;
  for (int i = 0; i < 3 && !refused; ++i) refused = !busy.submit(*parse_target("GET", "/v1/topics"), count);
  CHECK(refused);  // one in progress and one waiting at most, whatever the thread has taken
  slow->release.set_value();
  busy.stop();
  CHECK_FALSE(busy.submit(*parse_target("GET", "/v1/topics"), count));  // stopped
}
