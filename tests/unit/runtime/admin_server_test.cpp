#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "cryptoflow/net/http.hpp"
#include "cryptoflow/runtime/service.hpp"
#include "test_support.hpp"

using namespace cryptoflow;

TEST_CASE("Admin server: /healthz - /readyz follows readiness - /metrics is Prometheus text") {
  MetricsRegistry metrics;
  metrics.counter("cryptoflow_test_total", "A test counter").inc(7);
  std::atomic<bool> ready{false};
  AdminServer server(
      0, metrics, [&] { return ready.load(); }, "127.0.0.1");
  const auto base = "http://127.0.0.1:" + std::to_string(server.port());
  HttpClient http;
  auto r = http.get(base + "/healthz");
  CHECK(r.status == 200);
  CHECK(http.get(base + "/readyz").status == 503);
  ready = true;
  CHECK(http.get(base + "/readyz").status == 200);
  r = http.get(base + "/metrics");
  CHECK(r.status == 200);
  CHECK(r.headers["content-type"].find("text/plain; version=0.0.4") == 0);
  CHECK(r.body.find("cryptoflow_test_total 7\n") != std::string::npos);
  CHECK(http.get(base + "/nope").status == 404);
  CHECK(http.post(base + "/metrics", "x").status == 405);
}

TEST_CASE("Admin server: clients that send slowly or nothing do not keep probes waiting") {
  MetricsRegistry metrics;
  AdminServer server(0, metrics, {}, "127.0.0.1");
  // Three clients: two send nothing, one sends a byte every half second, each for 8 seconds.
  std::atomic<bool> stop{false};
  std::atomic<int> connected{0}, failed{0};
  std::vector<std::thread> slow;
  for (int k = 0; k < 3; ++k)
    slow.emplace_back([&, k] {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<std::uint16_t>(server.port()));
      ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        ++connected;
        for (int i = 0; i < 16 && !stop; ++i) {
          if (k == 0) (void)::send(fd, "G", 1, MSG_NOSIGNAL);
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
      } else {
        ++failed;
      }
      ::close(fd);
    });
  // The slow ones are connected before the probes start.
  CHECK(test::eventually([&] { return connected + failed == 3; }, std::chrono::seconds(10),
                         std::chrono::milliseconds(1)));
  CHECK(connected == 3);
  // A liveness probe with Kubernetes' default timeout of one second, three times in a row.
  HttpClient http({std::chrono::milliseconds(1000), std::chrono::milliseconds(1000)});
  for (int i = 0; i < 3; ++i) {
    const auto r = http.get("http://127.0.0.1:" + std::to_string(server.port()) + "/healthz");
    INFO(r.error);
    CHECK(r.status == 200);
  }
  stop = true;
  for (auto& t : slow) t.join();
}
