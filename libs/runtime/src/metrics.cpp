#include "cryptoflow/runtime/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>

namespace cryptoflow {
namespace {

std::string render_labels(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ',';
    out += k + "=\"";
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string with_labels(const std::string& name, const std::string& labels, const std::string& extra = {}) {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? name : name + "{" + all + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::observe(double v) {
  const auto i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::uint64_t Histogram::cumulative(std::size_t i) const {
  std::uint64_t n = 0;
  for (std::size_t b = 0; b <= i && b <= bounds_.size(); ++b) n += buckets_[b].load(std::memory_order_relaxed);
  return n;
}

std::vector<double> latency_buckets_ms() {
  return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000};
}

MetricsRegistry::Entry* MetricsRegistry::find(const std::string& name, const std::string& labels) const {
  for (const auto& e : entries_)
    if (e.name == name && e.labels == labels) return const_cast<Entry*>(&e);
  return nullptr;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  const auto l = render_labels(labels);
  if (auto* e = find(name, l)) {
    if (e->kind != Kind::counter) throw std::logic_error("metric " + name + " registered twice");
    return *e->c;
  }
  auto& e = entries_.emplace_back(Entry{name, help, l, Kind::counter, std::make_unique<Counter>(), {}, {}});
  return *e.c;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  const auto l = render_labels(labels);
  if (auto* e = find(name, l)) {
    if (e->kind != Kind::gauge) throw std::logic_error("metric " + name + " registered twice");
    return *e->g;
  }
  auto& e = entries_.emplace_back(Entry{name, help, l, Kind::gauge, {}, std::make_unique<Gauge>(), {}});
  return *e.g;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                                      const Labels& labels) {
  std::lock_guard lock(mu_);
  const auto l = render_labels(labels);
  if (auto* e = find(name, l)) {
    if (e->kind != Kind::histogram) throw std::logic_error("metric " + name + " registered twice");
    return *e->h;
  }
  auto& e = entries_.emplace_back(
      Entry{name, help, l, Kind::histogram, {}, {}, std::make_unique<Histogram>(std::move(bounds))});
  return *e.h;
}

double MetricsRegistry::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  const auto* e = find(name, render_labels(labels));
  if (!e) return 0;
  if (e->kind == Kind::counter) return static_cast<double>(e->c->value());
  if (e->kind == Kind::gauge) return e->g->value();
  return static_cast<double>(e->h->count());
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  std::set<std::string> described;
  // Group series of one name together, in first-registration order.
  std::vector<std::string> names;
  for (const auto& e : entries_)
    if (std::find(names.begin(), names.end(), e.name) == names.end()) names.push_back(e.name);
  for (const auto& name : names) {
    for (const auto& e : entries_) {
      if (e.name != name) continue;
      if (described.insert(name).second) {
        static const char* kTypes[] = {"counter", "gauge", "histogram"};
        out += "# HELP " + name + " " + e.help + "\n";
        out += "# TYPE " + name + " " + kTypes[static_cast<int>(e.kind)] + "\n";
      }
      switch (e.kind) {
        case Kind::counter: out += with_labels(name, e.labels) + " " + std::to_string(e.c->value()) + "\n"; break;
        case Kind::gauge: out += with_labels(name, e.labels) + " " + number(e.g->value()) + "\n"; break;
        case Kind::histogram: {
          const auto& h = *e.h;
          for (std::size_t i = 0; i < h.bounds().size(); ++i)
            out += with_labels(name + "_bucket", e.labels, "le=\"" + number(h.bounds()[i]) + "\"") + " " +
                   std::to_string(h.cumulative(i)) + "\n";
          out += with_labels(name + "_bucket", e.labels, "le=\"+Inf\"") + " " + std::to_string(h.count()) + "\n";
          out += with_labels(name + "_sum", e.labels) + " " + number(h.sum()) + "\n";
          out += with_labels(name + "_count", e.labels) + " " + std::to_string(h.count()) + "\n";
          break;
        }
      }
    }
  }
  return out;
}

namespace {
std::atomic<MetricsRegistry*> process_registry{nullptr};
}  // namespace

MetricsRegistry* process_metrics() {
  return process_registry.load();
}

void set_process_metrics(MetricsRegistry* registry) {
  process_registry.store(registry);
}

}  // namespace cryptoflow
