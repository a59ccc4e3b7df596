// dev-broker's embedded broker: what it adds to librdkafka's mock cluster.
#include "dev-broker/src/dev_broker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "cryptoflow/kafka/producer.hpp"
#include "embedded_broker.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

TEST_CASE("The embedded broker answers without Nagle's delay: its connections have TCP_NODELAY") {
  DevBroker broker({1, 0, 1}, {"t.nodelay"});
  MetricsRegistry metrics;
  kafka::KafkaProducer p(props_for(broker), metrics);
  produce(p, "t.nodelay", "k", "v");
  REQUIRE_NOTHROW(p.flush(10s));
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

TEST_CASE("A fixed port (--port): clients bootstrap through it and reach the broker") {
  const int port = free_port();
  DevBroker broker({1, port, 2}, {"t.fixed"});
  CHECK(broker.bootstrap_servers().find("127.0.0.1:" + std::to_string(port)) == 0);
  MetricsRegistry metrics;
  kafka::KafkaProducer p(props_for(broker), metrics);
  for (int i = 0; i < 20; ++i) produce(p, "t.fixed", std::to_string(i), "v");
  REQUIRE_NOTHROW(p.flush(20s));
  CHECK(p.delivered() == 20);
}
