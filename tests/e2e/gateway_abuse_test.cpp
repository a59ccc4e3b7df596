// The gateway binary under attack, on loopback: one address (127.0.0.1) opens 2,000 idle SSE
// streams, another (127.0.0.3) holds 300 sockets that trickle a request a byte a second and
// reconnect when cut - while a third (127.0.0.2), an ordinary client, gets every answer, with
// p99 under 100 ms, and the admin port's /healthz stays answered. Bounded: ~20 s, loopback only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

// A socket from `from` to 127.0.0.1:port (-1 if it cannot be had).
int dial(const char* from, int port, std::chrono::milliseconds timeout = 2s) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const auto n = send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// One request on a new connection; the status (0: no answer).
int request(const char* from, int port, const std::string& target) {
  const int fd = dial(from, port);
  if (fd < 0) return 0;
  int status = 0;
  if (send_all(fd, "GET " + target + " HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n")) {
    std::string in;
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) in.append(buf, static_cast<std::size_t>(n));
    if (in.starts_with("HTTP/1.1 ") && in.size() > 12) status = std::stoi(in.substr(9, 3));
  }
  close(fd);
  return status;
}

}  // namespace

TEST_CASE(
    "gateway under attack: 2,000 idle streams and 300 slow-header sockets - another address is served, p99 < 100 ms") {
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  REQUIRE(files.rlim_cur > 3'000);

  TempDir dir;
  Process broker({binary("dev-broker")}, {}, (dir.path() / "broker.log").string());
  const auto bootstrap = broker.read_line(30s);
  REQUIRE(bootstrap);
  const auto port = free_port();
  const auto admin = free_port();
  Process gateway({binary("gateway")},
                  {{"KAFKA_BOOTSTRAP_SERVERS", *bootstrap},
                   {"ADMIN_PORT", std::to_string(admin)},
                   {"GATEWAY_PORT", std::to_string(port)},
                   {"GATEWAY_BIND", "127.0.0.1"},
                   {"LOG_FORMAT", "text"}},
                  (dir.path() / "gateway.log").string());
  HttpClient http;
  const auto healthz = "http://127.0.0.1:" + std::to_string(admin) + "/healthz";
  REQUIRE(eventually([&] { return http.get(healthz).status == 200; }, 60s));
  INFO(read_file((dir.path() / "gateway.log").string()));

  // 2,000 idle streams from one address: it keeps what it gets.
  std::vector<int> streams;
  std::size_t refused = 0;
  for (int i = 0; i < 2'000; ++i) {
    const int fd = dial("127.0.0.1", port);
    if (fd < 0) continue;
    send_all(fd, "GET /v1/stream?symbols=NONE HTTP/1.1\r\nHost: g\r\n\r\n");
    char head[12] = {};
    if (recv(fd, head, sizeof head, 0) == sizeof head && std::string_view(head, 12) == "HTTP/1.1 429") ++refused;
    streams.push_back(fd);
  }
  CHECK(refused >= 1'800);  // all but GATEWAY_MAX_CONNECTIONS_PER_ADDRESS (100)

  // Slow headers from another address, for the rest of the test: a byte a second, and a new
  // socket for each one the gateway cuts.
  std::atomic<bool> stop{false};
  std::atomic<int> reconnects{0};
  std::thread slow([&] {
    std::vector<int> socks;
    for (int i = 0; i < 300; ++i) {
      const int fd = dial("127.0.0.3", port);
      if (fd >= 0 && send_all(fd, "GET /binance/api/v3/ping HTTP/1.1\r\nH")) socks.push_back(fd);
    }
    while (!stop) {
      for (auto& fd : socks) {
        if (fd >= 0 && send_all(fd, "x")) continue;
        if (fd >= 0) close(fd);
        fd = dial("127.0.0.3", port);
        if (fd >= 0 && !send_all(fd, "GET /binance/api/v3/ping HTTP/1.1\r\nH")) {
          close(fd);
          fd = -1;
        }
        ++reconnects;
      }
      for (int i = 0; i < 10 && !stop; ++i) std::this_thread::sleep_for(100ms);
    }
    for (const int fd : socks)
      if (fd >= 0) close(fd);
  });

  // The ordinary client and the orchestrator's health check meanwhile.
  std::vector<double> ms;
  int failed = 0, unhealthy = 0;
  const auto until = std::chrono::steady_clock::now() + 15s;
  for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto status = request("127.0.0.2", port, i % 2 ? "/binance/api/v3/ping" : "/binance/api/v3/time");
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (status != 200) ++failed;
    if (i % 10 == 0 && http.get(healthz).status != 200) ++unhealthy;
    std::this_thread::sleep_for(20ms);
  }
  stop = true;
  slow.join();
  for (const int fd : streams) close(fd);

  std::sort(ms.begin(), ms.end());
  const auto p99 = ms[ms.size() * 99 / 100];
  INFO("requests " << ms.size() << ", p50 " << ms[ms.size() / 2] << " ms, p99 " << p99 << " ms, max " << ms.back()
                   << " ms; slow-header sockets cut and reopened " << reconnects.load());
  CHECK(ms.size() >= 200);
  CHECK(failed == 0);
  CHECK(unhealthy == 0);
  CHECK(p99 < 100);
  CHECK(reconnects > 0);  // the trickled requests were cut (GATEWAY_REQUEST_TIMEOUT, 5 s)
  CHECK(gateway.terminate() == 0);
}
