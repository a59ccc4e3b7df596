// Hot-path benchmark: decode a trade's JSON, update the candle windows, encode the candles that
// close — per trade, exact decimals — for 10 and for 1,000 symbols. Compared in the same run
// with RapidJSON merely parsing the same messages (the ceiling), on one core.
// Prints trades/s per core, the ratio to the ceiling, heap allocations per trade, the share of
// the time spent closing windows and encoding them, and the heap the engine holds per symbol at
// the end (its state: windows, panes, trade ids, lookup tables).
#include <malloc.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "cryptoflow/messages/messages.hpp"
#include "stream-processor/src/candle_engine.hpp"

// Counts every heap allocation of the process and the bytes live (replaceable global operator
// new; the sizes malloc really gave).
static std::atomic<std::uint64_t> g_allocations{0};
static std::atomic<std::int64_t> g_live_bytes{0};
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) {
    g_live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  if (p) g_live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  operator delete(p);
}

using namespace cryptoflow;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> make_trades(int symbols, int count) {
  std::mt19937_64 rng(1);
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(count));
  std::int64_t t = 1'700'000'000'000;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(symbols));  // each symbol's ids count up, as Binance's
  for (int i = 0; i < count; ++i) {
    t += static_cast<std::int64_t>(rng() % 20);  // ~100 trades/s per symbol set
    Trade x;
    x.source = "binance";
    const auto s = rng() % static_cast<unsigned>(symbols);
    x.symbol = "SYM" + std::to_string(s) + "USDT";
    x.trade_id = ++ids[s];
    char price[32], qty[32];
    std::snprintf(price, sizeof price, "%d.%08d", 100 + static_cast<int>(rng() % 1000),
                  static_cast<int>(rng() % 100000000));
    std::snprintf(qty, sizeof qty, "0.%08d", static_cast<int>(rng() % 100000000));
    x.price = *Decimal::parse(price);
    x.quantity = *Decimal::parse(qty);
    x.buyer_is_maker = rng() & 1;
    x.event_time = x.trade_time = t;
    x.received_time = t + 5;
    out.push_back(to_json(x));
  }
  return out;
}

struct Result {
  double seconds;
  double closing_seconds;  // of which closing windows and encoding what they emit
  std::uint64_t allocations;
  std::uint64_t sink;             // defeats dead-code elimination
  std::int64_t engine_bytes = 0;  // heap the engine holds at the end (its state)
};

Result ceiling(const std::vector<std::string>& msgs) {
  const auto a0 = g_allocations.load();
  const auto t0 = Clock::now();
  std::uint64_t sink = 0;
  char value_buf[4096], parse_buf[1024];
  for (const auto& m : msgs) {
    rapidjson::MemoryPoolAllocator<> va(value_buf, sizeof value_buf), pa(parse_buf, sizeof parse_buf);
    rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>, rapidjson::MemoryPoolAllocator<>> d(
        &va, sizeof parse_buf, &pa);
    d.Parse(m.data(), m.size());
    sink += d.MemberCount();
  }
  return {std::chrono::duration<double>(Clock::now() - t0).count(), 0, g_allocations.load() - a0, sink};
}

template <class T>
std::size_t encoded(std::string& json, const T& message) {
  json.clear();
  append_json(json, message);
  return json.size();
}

Result pipeline(const std::vector<std::string>& msgs) {
  processor::EngineOptions options{
      {{"1m", 60'000}, {"5m", 300'000}, {"15m", 900'000}, {"1h", 3'600'000}}, 0, 10'000, 12};
  options.sma = processor::MovingAverage{"30s", 30'000, 10'000};
  processor::CandleEngine engine(options);
  std::vector<processor::FromPartition<Candle>> out;
  std::vector<processor::FromPartition<Indicator>> indicators;
  out.reserve(4096);
  indicators.reserve(4096);
  std::string json;  // one buffer for every message, as the processor encodes them
  json.reserve(1024);
  std::uint64_t sink = 0;
  const auto live0 = g_live_bytes.load();
  const auto a0 = g_allocations.load();
  const auto t0 = Clock::now();
  std::int64_t offset = 0;
  Clock::duration closing{};
  for (const auto& m : msgs) {
    auto d = decode_trade(m);
    engine.add(0, *d.value, 0);
    if ((++offset & 1023) == 0) {  // the processor closes windows once per commit interval
      const auto c0 = Clock::now();
      engine.close_windows(0, out, indicators);
      for (const auto& c : out) sink += encoded(json, c.value);
      for (const auto& i : indicators) sink += encoded(json, i.value);
      out.clear();
      indicators.clear();
      closing += Clock::now() - c0;
    }
  }
  engine.close_windows(0, out, indicators);
  for (const auto& c : out) sink += encoded(json, c.value);
  const auto seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto allocations = g_allocations.load() - a0;
  out = {};  // what is left is the engine's
  indicators = {};
  return {seconds, std::chrono::duration<double>(closing).count(), allocations, sink, g_live_bytes.load() - live0};
}

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 1'000'000;
  std::vector<int> symbol_counts{10, 1000};
  if (argc > 2) symbol_counts = {std::atoi(argv[2])};  // one case only (for a profiler)
  std::printf(
      "hot path: decode trade JSON + window update (1m,5m,15m,1h + 30s/10s SMA) + encode closed candles and averages, "
      "one core\n");
  std::printf("%-10s %-28s %14s %10s %16s %14s %16s\n", "symbols", "what", "trades/s", "vs ceiling", "allocs/trade",
              "closing share", "heap/symbol");
  for (int symbols : symbol_counts) {
    const auto msgs = make_trades(symbols, count);
    (void)ceiling(msgs);  // warm-up
    (void)pipeline(msgs);
    Result best_c{1e9, 0, 0, 0}, best_p{1e9, 0, 0, 0};
    for (int rep = 0; rep < 3; ++rep) {  // best of three: the machine is shared and noisy
      const auto c = ceiling(msgs);
      const auto p = pipeline(msgs);
      if (c.seconds < best_c.seconds) best_c = c;
      if (p.seconds < best_p.seconds) best_p = p;
    }
    const double c_rate = count / best_c.seconds, p_rate = count / best_p.seconds;
    std::printf("%-10d %-28s %14.0f %10s %16.2f\n", symbols, "RapidJSON parse only", c_rate, "1.00",
                static_cast<double>(best_c.allocations) / count);
    std::printf("%-10d %-28s %14.0f %10.2f %16.2f %14.2f %14.0f B\n", symbols, "cryptoflow hot path", p_rate,
                p_rate / c_rate, static_cast<double>(best_p.allocations) / count,
                best_p.closing_seconds / best_p.seconds, static_cast<double>(best_p.engine_bytes) / symbols);
    if (best_c.sink + best_p.sink == 0) std::printf("(nothing computed)\n");
  }
  return 0;
}
