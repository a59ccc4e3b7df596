#include "cryptoflow/runtime/metrics.hpp"

#include <catch2/catch.hpp>

using namespace cryptoflow;

TEST_CASE("Metrics render in Prometheus text format") {
  MetricsRegistry m;
  m.counter("x_total", "Things", {{"kind", "a"}}).inc(3);
  m.counter("x_total", "Things", {{"kind", "b\"q"}}).inc();
  m.gauge("g", "A gauge").set(2.5);
  auto& h = m.histogram("lat_ms", "Latency", {1, 10});
  h.observe(0.5);
  h.observe(5);
  h.observe(50);
  const auto text = m.render();
  CHECK(
      text.find("# HELP x_total Things\n# TYPE x_total counter\nx_total{kind=\"a\"} 3\nx_total{kind=\"b\\\"q\"} 1\n") !=
      std::string::npos);
  CHECK(text.find("# TYPE g gauge\ng 2.5\n") != std::string::npos);
  CHECK(text.find("lat_ms_bucket{le=\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("lat_ms_bucket{le=\"10\"} 2\n") != std::string::npos);
  CHECK(text.find("lat_ms_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("lat_ms_sum 55.5\n") != std::string::npos);
  CHECK(text.find("lat_ms_count 3\n") != std::string::npos);
  CHECK(m.value("x_total", {{"kind", "a"}}) == 3);
  // Same name and labels: the same counter.
  m.counter("x_total", "Things", {{"kind", "a"}}).inc();
  CHECK(m.value("x_total", {{"kind", "a"}}) == 4);
  CHECK_THROWS_AS(m.gauge("x_total", "clash", {{"kind", "a"}}), std::logic_error);
}
