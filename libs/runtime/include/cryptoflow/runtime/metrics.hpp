#pragma once
// A small Prometheus metrics registry: counters, gauges, histograms; lock-free updates,
// rendered in the Prometheus text exposition format (version 0.0.4) for /metrics.
#include <atomic>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cryptoflow {

class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d) {
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
  }
  [[nodiscard]] double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  [[nodiscard]] std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  [[nodiscard]] double sum() const { return sum_.load(std::memory_order_relaxed); }
  [[nodiscard]] const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i] (cumulative, as Prometheus wants).
  [[nodiscard]] std::uint64_t cumulative(std::size_t i) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

using Labels = std::vector<std::pair<std::string, std::string>>;

// Milliseconds buckets for latencies from 1 ms to 1 min.
std::vector<double> latency_buckets_ms();

class MetricsRegistry {
 public:
  // Returns the same object for the same name and labels; references stay valid.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                       const Labels& labels = {});

  [[nodiscard]] std::string render() const;
  // Value of a counter or gauge by name and rendered labels (for tests and progress output).
  [[nodiscard]] double value(const std::string& name, const Labels& labels = {}) const;

 private:
  enum class Kind { counter, gauge, histogram };
  struct Entry {
    std::string name, help, labels;
    Kind kind;
    std::unique_ptr<Counter> c;
    std::unique_ptr<Gauge> g;
    std::unique_ptr<Histogram> h;
  };
  Entry* find(const std::string& name, const std::string& labels) const;
  mutable std::mutex mu_;
  std::deque<Entry> entries_;
};

// The running service's registry (ServiceHost sets it for its lifetime), for a library that
// counts what no caller hands it a registry for (libs/kafka's skipped offsets); nullptr when none.
MetricsRegistry* process_metrics();
void set_process_metrics(MetricsRegistry* registry);

}  // namespace cryptoflow
