// Latency benchmark: trade received -> candle update visible to a read_committed consumer.
//
//   latency_bench <bootstrap servers> <trades/s> <seconds> [symbols=200] [warm-up seconds=2]
//
// A stream-processor must already consume the same broker's trades topic. One thread publishes
// trades at a steady rate (in 1 ms steps, trade time = now) and notes when it handed each one
// to Kafka: that is when cryptoflow "received" it. Another reads crypto.candles
// (isolation.level=read_committed, from the end) and, for each 1m candle of a symbol, takes its
// trade count: the trades up to that count became visible at that moment. Prints p50, p99 and
// p99.9 of the per-trade latency after the warm-up, and how many trades were seen.
// The baseline, measured in the same run: the broker hop alone — a plain consumer of the
// trades topic, from the same hand-over to Kafka to the trade being read.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/messages/messages.hpp"
#include "cryptoflow/runtime/metrics.hpp"

using namespace cryptoflow;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// When each trade of a (symbol, 1m window) was handed to Kafka, in order, and how many of
// them a candle has shown so far.
struct Window {
  std::vector<Clock::time_point> sent;
  std::size_t shown = 0;
};

class Ledger {
 public:
  void sent(const std::string& symbol, std::int64_t window, Clock::time_point at) {
    std::lock_guard lock(mu_);
    windows_[{symbol, window}].sent.push_back(at);
  }
  // A candle with `trades` trades became visible now: records the newly shown trades' latency.
  void shown(const std::string& symbol, std::int64_t window, std::int64_t trades, Clock::time_point now,
             Clock::time_point count_after) {
    std::lock_guard lock(mu_);
    auto it = windows_.find({symbol, window});
    if (it == windows_.end()) return;  // a window of an earlier run
    auto& w = it->second;
    const auto upto = std::min<std::size_t>(static_cast<std::size_t>(trades), w.sent.size());
    for (; w.shown < upto; ++w.shown)
      if (w.sent[w.shown] >= count_after)
        latencies_us_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(now - w.sent[w.shown]).count());
  }
  // The broker-hop baseline: trade `id` (handed over at `sent_at`) was read at `now`.
  void read_trade(std::int64_t id, Clock::time_point now, Clock::time_point count_after) {
    std::lock_guard lock(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    if (it->second >= count_after)
      hop_us_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(now - it->second).count());
    by_id_.erase(it);
  }
  void sent_id(std::int64_t id, Clock::time_point at) {
    std::lock_guard lock(mu_);
    by_id_[id] = at;
  }
  std::vector<std::int64_t> hop_latencies() {
    std::lock_guard lock(mu_);
    return hop_us_;
  }
  std::vector<std::int64_t> latencies() {
    std::lock_guard lock(mu_);
    return latencies_us_;
  }

 private:
  std::mutex mu_;
  std::map<std::pair<std::string, std::int64_t>, Window> windows_;
  std::vector<std::int64_t> latencies_us_;
  std::map<std::int64_t, Clock::time_point> by_id_;
  std::vector<std::int64_t> hop_us_;
};

struct Percentiles {
  double p50, p99, p999;
};
Percentiles percentiles(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double p) {
    if (v.empty()) return 0.0;
    return static_cast<double>(v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))]) /
           1000.0;
  };
  return {at(0.50), at(0.99), at(0.999)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <bootstrap> <trades/s> <seconds> [symbols] [warm-up s]\n", argv[0]);
    return 2;
  }
  const std::string bootstrap = argv[1];
  const int rate = std::atoi(argv[2]);
  const int seconds = std::atoi(argv[3]);
  const int symbols = argc > 4 ? std::atoi(argv[4]) : 200;
  const int warmup = argc > 5 ? std::atoi(argv[5]) : 2;
  MetricsRegistry metrics;
  kafka::Properties props;
  props.set("bootstrap.servers", bootstrap).set("log_level", "3");

  Ledger ledger;
  kafka::Properties cprops = props;
  cprops.set("auto.offset.reset", "latest").set("fetch.wait.max.ms", "1");
  kafka::KafkaConsumer consumer(cprops, "latency-bench-" + std::to_string(wall_ms()), {"crypto.candles"});
  kafka::KafkaConsumer trades_reader(cprops, "latency-bench-trades-" + std::to_string(wall_ms()), {"crypto.trades"});
  while (consumer.assignment().empty() || trades_reader.assignment().empty()) {  // joined: from the end on
    (void)consumer.poll(std::chrono::milliseconds(20));
    (void)trades_reader.poll(std::chrono::milliseconds(20));
  }

  const auto start = Clock::now();
  const auto count_after = start + std::chrono::seconds(warmup);
  std::uint64_t produced = 0;
  std::thread publisher([&] {
    kafka::Properties pprops = props;
    pprops.set("linger.ms", "1");
    kafka::KafkaProducer producer(pprops, metrics);
    std::vector<std::string> names;
    for (int s = 0; s < symbols; ++s) names.push_back("LAT" + std::to_string(s) + "USDT");
    const auto total = static_cast<std::uint64_t>(rate) * static_cast<std::uint64_t>(seconds);
    const double per_ms = rate / 1000.0;
    Trade t;
    t.source = "binance";
    t.price = *Decimal::parse("100.5");
    t.quantity = *Decimal::parse("0.01");
    for (std::uint64_t step = 0; produced < total; ++step) {
      std::this_thread::sleep_until(start + std::chrono::milliseconds(step));
      const auto due =
          std::min<std::uint64_t>(total, static_cast<std::uint64_t>(per_ms * static_cast<double>(step + 1)));
      for (; produced < due; ++produced) {
        t.symbol = names[produced % names.size()];
        t.trade_id = static_cast<std::int64_t>(produced);
        t.event_time = t.trade_time = t.received_time = wall_ms();
        const auto json = to_json(t);
        const auto at = Clock::now();
        ledger.sent(t.symbol, t.trade_time / 60'000 * 60'000, at);
        ledger.sent_id(t.trade_id, at);
        producer.produce({.topic = "crypto.trades", .key = t.symbol, .value = json, .timestamp = t.trade_time});
      }
      producer.poll(std::chrono::milliseconds(0));
    }
    producer.flush(std::chrono::seconds(30));
  });

  const auto read_until = start + std::chrono::seconds(seconds + 3);
  std::thread hop([&] {
    while (Clock::now() < read_until) {
      auto m = trades_reader.poll(std::chrono::milliseconds(5));
      if (!m) continue;
      const auto now = Clock::now();
      if (auto t = decode_trade(m->value)) ledger.read_trade(t.value->trade_id, now, count_after);
    }
  });
  while (Clock::now() < read_until) {
    auto m = consumer.poll(std::chrono::milliseconds(5));
    if (!m) continue;
    const auto now = Clock::now();
    auto c = decode_candle(m->value);
    if (c && c.value->interval == "1m")
      ledger.shown(c.value->symbol, c.value->start, c.value->trades, now, count_after);
  }
  publisher.join();
  hop.join();

  auto lat = ledger.latencies();
  const auto hop_lat = ledger.hop_latencies();
  const auto c = percentiles(lat);
  const auto h = percentiles(hop_lat);
  const auto counted = static_cast<double>(produced) * (seconds - warmup) / seconds;
  std::printf(
      "rate=%d seconds=%d trades=%llu measured=%zu (%.0f%% of those after warm-up) p50_ms=%.2f p99_ms=%.2f "
      "p999_ms=%.2f hop_p50_ms=%.2f hop_p99_ms=%.2f hop_p999_ms=%.2f\n",
      rate, seconds, static_cast<unsigned long long>(produced), lat.size(),
      counted > 0 ? 100.0 * static_cast<double>(lat.size()) / counted : 0.0, c.p50, c.p99, c.p999, h.p50, h.p99,
      h.p999);
  return lat.empty() ? 1 : 0;
}
