#include <catch2/catch.hpp>

#include "cryptoflow/http.hpp"
#include "cryptoflow/service.hpp"

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
