// The kafka library against the embedded broker (librdkafka's mock cluster, in process).
#include "cryptoflow/kafka.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "dev_broker.hpp"
#include "embedded_broker.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using cryptoflow::test::props_for;
using namespace std::chrono_literals;

namespace {

// Reads until `count` messages arrived or the timeout passed.
std::vector<kafka::MessagePtr> consume(kafka::Consumer& c, std::size_t count, std::chrono::milliseconds timeout = 20s) {
  std::vector<kafka::MessagePtr> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline)
    if (auto m = c.poll(50)) out.push_back(std::move(m));
  return out;
}

}  // namespace

TEST_CASE("Producer to consumer: keys - values - timestamps and headers arrive - per-key order holds") {
  DevBroker broker({1, 0, 6}, {"t.roundtrip"});
  MetricsRegistry metrics;
  {
    kafka::Producer p(props_for(broker), metrics);
    for (int i = 0; i < 600; ++i)
      p.produce("t.roundtrip", "key" + std::to_string(i % 7), "value" + std::to_string(i), 1'000'000 + i,
                {{"h", "x" + std::to_string(i)}});
    REQUIRE(p.flush(30s));
    CHECK(p.delivered() == 600);
    CHECK(p.failed() == 0);
  }
  kafka::Consumer c(props_for(broker), "g.roundtrip", {"t.roundtrip"});
  auto msgs = consume(c, 600);
  REQUIRE(msgs.size() == 600);
  std::map<std::string, int> last_by_key;
  std::set<int> seen;
  std::map<std::string, int> partition_of;
  for (const auto& m : msgs) {
    const std::string key(kafka::key_of(*m));
    const int i = std::stoi(std::string(kafka::value_of(*m)).substr(5));
    CHECK(kafka::timestamp_of(*m) == 1'000'000 + i);
    CHECK(key == "key" + std::to_string(i % 7));
    if (last_by_key.count(key)) CHECK(i > last_by_key[key]);  // order within a key
    last_by_key[key] = i;
    if (partition_of.count(key)) CHECK(partition_of[key] == m->partition);  // one key, one partition
    partition_of[key] = m->partition;
    seen.insert(i);
    const void* v = nullptr;
    size_t n = 0;
    rd_kafka_headers_t* hdrs = nullptr;
    REQUIRE(rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR);
    REQUIRE(rd_kafka_header_get_last(hdrs, "h", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(std::string(static_cast<const char*>(v), n) == "x" + std::to_string(i));
  }
  CHECK(seen.size() == 600);
}

TEST_CASE("A full local queue makes produce wait - nothing is dropped") {
  DevBroker broker({1, 0, 2}, {"t.full"});
  MetricsRegistry metrics;
  auto props = props_for(broker);
  props.set("queue.buffering.max.messages", "50");
  kafka::Producer p(props, metrics);
  for (int i = 0; i < 5000; ++i) p.produce("t.full", "k", std::string(100, 'x'));
  REQUIRE(p.flush(30s));
  CHECK(p.delivered() == 5000);
  CHECK(metrics.value("cryptoflow_kafka_queue_full_waits_total") > 0);
}

TEST_CASE("Commit after processing: a new member of the group resumes after the last commit") {
  DevBroker broker({1, 0, 1}, {"t.commit"});
  MetricsRegistry metrics;
  {
    kafka::Producer p(props_for(broker), metrics);
    for (int i = 0; i < 100; ++i) p.produce("t.commit", "k", std::to_string(i));
  }
  {
    kafka::Consumer c(props_for(broker), "g.commit", {"t.commit"});
    auto msgs = consume(c, 100);
    REQUIRE(msgs.size() == 100);
    for (int i = 0; i < 40; ++i) c.mark_processed(*msgs[static_cast<std::size_t>(i)]);
    REQUIRE(c.commit());
    CHECK_FALSE(c.has_uncommitted());
  }  // closes without committing the other 60
  kafka::Consumer c2(props_for(broker), "g.commit", {"t.commit"});
  auto rest = consume(c2, 60);
  REQUIRE(rest.size() == 60);
  CHECK(kafka::value_of(*rest.front()) == "40");
  CHECK(kafka::value_of(*rest.back()) == "99");
}

TEST_CASE("A record of a partition this member does not own is never committed") {
  DevBroker broker({1, 0, 1}, {"t.own", "t.other"});
  MetricsRegistry metrics;
  {
    kafka::Producer p(props_for(broker), metrics);
    p.produce("t.own", "k", "mine");
  }
  kafka::Consumer owner(props_for(broker), "g.own", {"t.own"});
  auto msgs = consume(owner, 1);
  REQUIRE(msgs.size() == 1);
  owner.mark_processed(*msgs[0]);
  CHECK(owner.has_uncommitted());
  kafka::Consumer stranger(props_for(broker), "g.other", {"t.other"});
  REQUIRE(test::eventually(
      [&] {
        stranger.poll(50);
        return stranger.assignment().size() == 1;
      },
      30s, 0ms));
  stranger.mark_processed(*msgs[0]);  // t.own/0 is not assigned to it
  CHECK_FALSE(stranger.has_uncommitted());
}

TEST_CASE("Cooperative-sticky rebalancing: a joining member takes partitions incrementally") {
  DevBroker broker({1, 0, 6}, {"t.rebalance"});
  std::vector<kafka::TopicPartition> a_assigned, a_revoked, b_assigned;
  kafka::Consumer a(props_for(broker), "g.rebalance", {"t.rebalance"},
                    {{},
                     [&](const auto& p) { a_assigned.insert(a_assigned.end(), p.begin(), p.end()); },
                     [&](const auto& p) { a_revoked.insert(a_revoked.end(), p.begin(), p.end()); }});
  REQUIRE(test::eventually(
      [&] {
        a.poll(50);
        return a.assignment().size() == 6;
      },
      60s, 0ms));
  kafka::Consumer b(props_for(broker), "g.rebalance", {"t.rebalance"},
                    {{}, [&](const auto& p) { b_assigned.insert(b_assigned.end(), p.begin(), p.end()); }, {}});
  REQUIRE(test::eventually(
      [&] {
        a.poll(50);
        b.poll(50);
        return a.assignment().size() + b.assignment().size() == 6 && !b.assignment().empty() && !a.assignment().empty();
      },
      90s, 0ms));
  INFO("A revoked " << a_revoked.size() << ", B assigned " << b_assigned.size() << ", A holds " << a.assignment().size()
                    << ", B holds " << b.assignment().size());
  // Incremental: A gave up only what B took, and never had everything revoked.
  CHECK(a_revoked.size() == b_assigned.size());
  CHECK(a_revoked.size() < 6);
  CHECK(a.assignment().size() == 6 - a_revoked.size());
  CHECK(std::string(rd_kafka_rebalance_protocol(a.handle())) == "COOPERATIVE");
}

TEST_CASE("ensure_topics: existing topics are fine - a broker without CreateTopics gives a warning - not a crash") {
  DevBroker broker({1, 0, 3}, {"t.exists"});
  CHECK(kafka::ensure_topics(props_for(broker), {"t.exists"}, 3, 1, 5s));
  CHECK_FALSE(kafka::ensure_topics(props_for(broker), {"t.missing"}, 3, 1, 3s));
}

TEST_CASE("KAFKA_* variables pass through to librdkafka - a bad one names the variable") {
  Config config(common_vars(), {{"KAFKA_BOOTSTRAP_SERVERS", "h:1"},
                                {"KAFKA_SECURITY_PROTOCOL", "SASL_SSL"},
                                {"KAFKA_SASL_MECHANISMS", "PLAIN"},
                                {"NOT_KAFKA", "x"}});
  const auto p = kafka::Properties::from_config(config);
  CHECK(p.get("bootstrap.servers") == "h:1");
  CHECK(p.get("security.protocol") == "SASL_SSL");
  CHECK(p.get("sasl.mechanisms") == "PLAIN");
  CHECK(p.items().size() == 3);
  kafka::Properties bad;
  bad.set("linger.ms", "soon");
  try {
    kafka::make_conf(bad);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("KAFKA_LINGER_MS") == 0);
  }
}

TEST_CASE("Dead-letter records keep key and value and name their source") {
  DevBroker broker({1, 0, 1}, {"t.src", "t.dlq"});
  MetricsRegistry metrics;
  kafka::Producer p(props_for(broker), metrics);
  p.produce("t.src", "BTCUSDT", "{not json", 12345);
  REQUIRE(p.flush(10s));
  kafka::Consumer c(props_for(broker), "g.dlq", {"t.src"});
  auto src = consume(c, 1);
  REQUIRE(src.size() == 1);
  kafka::send_to_dead_letter(p, "t.dlq", *src[0], "malformed JSON at offset 1");
  REQUIRE(p.flush(10s));
  kafka::Consumer d(props_for(broker), "g.dlq2", {"t.dlq"});
  auto dl = consume(d, 1);
  REQUIRE(dl.size() == 1);
  CHECK(kafka::key_of(*dl[0]) == "BTCUSDT");
  CHECK(kafka::value_of(*dl[0]) == "{not json");
  rd_kafka_headers_t* h = nullptr;
  REQUIRE(rd_kafka_message_headers(dl[0].get(), &h) == RD_KAFKA_RESP_ERR_NO_ERROR);
  auto header = [&](const char* name) {
    const void* v = nullptr;
    size_t n = 0;
    REQUIRE(rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR);
    return std::string(static_cast<const char*>(v), n);
  };
  CHECK(header("error") == "malformed JSON at offset 1");
  CHECK(header("source.topic") == "t.src");
  CHECK(header("source.partition") == "0");
  CHECK(header("source.offset") == "0");
}

TEST_CASE("The embedded broker answers without Nagle's delay: its connections have TCP_NODELAY") {
  DevBroker broker({1, 0, 1}, {"t.nodelay"});
  MetricsRegistry metrics;
  kafka::Producer p(props_for(broker), metrics);
  p.produce("t.nodelay", "k", "v");
  REQUIRE(p.flush(10s));
  const auto& bs = broker.bootstrap_servers();
  const int port = std::stoi(bs.substr(bs.rfind(':') + 1));
  // The mock broker runs in this process: find its accepted connections among our descriptors.
  int accepted = 0, nodelay = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(e.path().filename().string());
    int listening = 1;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening) continue;
    sockaddr_in local{};
    len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 || local.sin_family != AF_INET ||
        ntohs(local.sin_port) != port)
      continue;
    ++accepted;
    int on = 0;
    len = sizeof on;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 && on) ++nodelay;
  }
  CHECK(accepted > 0);
  CHECK(nodelay == accepted);
}

TEST_CASE("Producer warm_up looks the output topics up before the first produce") {
  DevBroker broker({1, 0, 3}, {"t.warm1", "t.warm2"});
  MetricsRegistry metrics;
  kafka::Producer p(props_for(broker), metrics);
  CHECK(p.warm_up({"t.warm1", "t.warm2"}, 10s));
  const auto started = std::chrono::steady_clock::now();
  p.produce("t.warm1", "k", "v");
  p.produce("t.warm2", "k", "v");
  CHECK(p.flush(10s));
  // Without the look-up the first flush to each topic waits for librdkafka's refresh timer:
  // 0.5 s for the first topic and 1 s for the next (measured on this broker), not ~1 ms.
  CHECK(std::chrono::steady_clock::now() - started < 400ms);
}

TEST_CASE("A consumer that drains a full prefetch queue does not idle for librdkafka's fetch back-off") {
  if (rd_kafka_version() >= 0x020200ff) {
    WARN("librdkafka >= 2.2 has fetch.queue.backoff.ms: the workaround is off");
    return;
  }
  DevBroker broker({1, 0, 4}, {"t.prefetch"});
  MetricsRegistry metrics;
  constexpr std::size_t kMessages = 40'000;
  {
    kafka::Producer p(props_for(broker), metrics);
    for (std::size_t i = 0; i < kMessages; ++i) p.produce("t.prefetch", std::to_string(i % 97), std::to_string(i));
    REQUIRE(p.flush(60s));
  }
  auto props = props_for(broker);
  props.set("queued.min.messages", "1000").set("max.partition.fetch.bytes", "4096");  // runs full often
  kafka::Consumer c(props, "g.prefetch", {"t.prefetch"});
  auto msgs = consume(c, 1, 60s);  // joining the group takes the mock's 3 s rebalance delay
  REQUIRE(msgs.size() == 1);
  const auto started = std::chrono::steady_clock::now();
  auto rest = consume(c, kMessages - 1, 60s);
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  REQUIRE(rest.size() == kMessages - 1);
  INFO("read " << kMessages << " in " << seconds << " s with " << c.fetch_wakeups() << " wake-ups");
  CHECK(c.fetch_wakeups() >= 3);
  // Without the wake-ups every full queue costs a stall of up to a second (measured: 1-2 s against 0.03 s).
  CHECK(seconds < 0.5);
}
