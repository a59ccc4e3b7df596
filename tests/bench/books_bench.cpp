// Order-book benchmark: diff-depth updates through binance-producer -> Kafka (dev-broker) ->
// gateway, against the raw WebSocket read of the same frames from the same server in the same
// run; and the memory a book level and a book take.
//
//   books_bench [symbols=100] [flood seconds=120] [paced seconds=20]
//
// The stand-in exchange (tests/support/fake_exchange) serves `symbols` books of 1,000 levels a
// side and their diff events (Binance's @depth@100ms frames, 8 levels each, every event
// following the one before). Phases:
//   warm-up  one event per symbol: the producer fetches every snapshot, the gateway serves every
//            book (bookTicker lists them all);
//   flood    `flood seconds` of 100 ms updates for every symbol, sent as fast as the server goes:
//            updates per second through the pipeline (until the gateway's /api/v3/depth shows
//            each symbol's last id), and per CPU-second of each process (/proc/<pid>/stat);
//   idle     5 s without updates: what each process spends on its own;
//   paced    `paced seconds` at the real rate (symbols x 10 updates a second): the share of a
//            core each process uses.
// The baseline: a plain WebSocket client reading the warm-up and flood frames from a second
// server of the same kind, as fast as it can. At the end the gateway's best 5 levels of every
// book must equal the generator's (the figures count only if the books are right).
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "cryptoflow/messages/book.hpp"
#include "cryptoflow/net/http.hpp"
#include "fake_exchange.hpp"
#include "test_support.hpp"
#include "ws_test_client.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kLevels = 1000;       // a side, in each snapshot
constexpr int kChangesPerSide = 4;  // levels an event changes a side

std::string price_text(std::int64_t cents) {  // 8 decimals, as Binance writes them
  char b[48];
  std::snprintf(b, sizeof b, "%lld.%02lld000000", static_cast<long long>(cents / 100),
                static_cast<long long>(cents % 100));
  return b;
}
std::string qty_text(std::int64_t units) {
  char b[48];
  std::snprintf(b, sizeof b, "%lld.%08lld", static_cast<long long>(units / 100'000'000),
                static_cast<long long>(units % 100'000'000));
  return b;
}

// One symbol's book as the generator keeps it (price in cents -> quantity in 1e-8 units).
struct GenBook {
  std::string symbol;
  std::int64_t id = 1'000'000;
  std::map<std::int64_t, std::int64_t, std::greater<>> bids;
  std::map<std::int64_t, std::int64_t> asks;
};

std::string levels_json(const std::vector<std::pair<std::int64_t, std::int64_t>>& levels) {
  std::string s = "[";
  for (const auto& [p, q] : levels)
    s += (s.size() > 1 ? ",[\"" : "[\"") + price_text(p) + "\",\"" + qty_text(q) + "\"]";
  return s + "]";
}

std::string snapshot_json(const GenBook& b) {
  std::vector<std::pair<std::int64_t, std::int64_t>> bids(b.bids.begin(), b.bids.end()),
      asks(b.asks.begin(), b.asks.end());
  return "{\"lastUpdateId\":" + std::to_string(b.id) + ",\"bids\":" + levels_json(bids) +
         ",\"asks\":" + levels_json(asks) + "}";
}

// The next event of a book: kChangesPerSide levels a side among its best 50 (a third of them
// removed, the rest new quantities), applied to the generator's book; returns the frame.
std::string next_event(GenBook& b, std::mt19937_64& rng, std::int64_t event_time) {
  std::vector<std::pair<std::int64_t, std::int64_t>> bid_changes, ask_changes;
  const auto best_bid = b.bids.begin()->first, best_ask = b.asks.begin()->first;
  for (int i = 0; i < kChangesPerSide; ++i) {
    const auto bp = best_bid - static_cast<std::int64_t>(rng() % 50);
    const auto ap = best_ask + static_cast<std::int64_t>(rng() % 50);
    const auto bq = rng() % 3 == 0 && b.bids.size() > 10 ? 0 : static_cast<std::int64_t>(rng() % 10'000'000'000 + 1);
    const auto aq = rng() % 3 == 0 && b.asks.size() > 10 ? 0 : static_cast<std::int64_t>(rng() % 10'000'000'000 + 1);
    bid_changes.emplace_back(bp, bq);
    ask_changes.emplace_back(ap, aq);
  }
  for (const auto& [p, q] : bid_changes) q ? void(b.bids[p] = q) : void(b.bids.erase(p));
  for (const auto& [p, q] : ask_changes) q ? void(b.asks[p] = q) : void(b.asks.erase(p));
  const auto first = b.id + 1;
  b.id += static_cast<std::int64_t>(bid_changes.size() + ask_changes.size());
  std::string lower = b.symbol;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "{\"stream\":\"" + lower +
         "@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":" + std::to_string(event_time) + ",\"s\":\"" + b.symbol +
         "\",\"U\":" + std::to_string(first) + ",\"u\":" + std::to_string(b.id) + ",\"b\":" + levels_json(bid_changes) +
         ",\"a\":" + levels_json(ask_changes) + "}}";
}

double cpu_seconds(pid_t pid) {  // user + system time of a process
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(s.substr(s.rfind(')') + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i)
    if (i == 14 || i == 15) ticks += std::stod(f);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double rss_mib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

template <class F>
bool wait_for(F f, std::chrono::seconds limit) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int symbols = argc > 1 ? std::atoi(argv[1]) : 100;
  const int flood_s = argc > 2 ? std::atoi(argv[2]) : 120;
  const int paced_s = argc > 3 ? std::atoi(argv[3]) : 20;
  if (symbols < 1 || symbols > 1000 || flood_s < 1 || paced_s < 0) {
    std::fprintf(stderr, "usage: books_bench [symbols 1-1000] [flood seconds] [paced seconds]\n");
    return 2;
  }

  // The books and their events: warm-up (one a symbol), flood, paced; round robin over symbols.
  std::mt19937_64 rng(42);
  std::vector<GenBook> books(static_cast<std::size_t>(symbols));
  std::map<std::string, std::string> snapshots;
  for (int i = 0; i < symbols; ++i) {
    auto& b = books[static_cast<std::size_t>(i)];
    char name[32];
    std::snprintf(name, sizeof name, "B%04dUSDT", i);
    b.symbol = name;
    const std::int64_t mid = 100'000 + i * 100;  // cents
    for (int l = 1; l <= kLevels; ++l) {
      b.bids[mid - l] = static_cast<std::int64_t>(rng() % 10'000'000'000 + 1);
      b.asks[mid + l] = static_cast<std::int64_t>(rng() % 10'000'000'000 + 1);
    }
    snapshots[b.symbol] = snapshot_json(b);
  }
  const std::size_t per_second = 10;  // 100 ms
  const std::size_t warm = static_cast<std::size_t>(symbols);
  const std::size_t flood_end =
      warm + static_cast<std::size_t>(symbols) * per_second * static_cast<std::size_t>(flood_s);
  const std::size_t total =
      flood_end + static_cast<std::size_t>(symbols) * per_second * static_cast<std::size_t>(paced_s);
  std::vector<std::string> frames;
  frames.reserve(total);
  std::map<std::string, std::int64_t> id_after_flood;
  std::int64_t event_time = 1'700'000'000'000;
  std::size_t frame_bytes = 0;
  for (std::size_t n = 0; n < total; ++n) {
    auto& b = books[n % books.size()];
    if (n % books.size() == 0) event_time += 100;
    frames.push_back(next_event(b, rng, event_time));
    frame_bytes += frames.back().size();
    if (n < flood_end) id_after_flood[b.symbol] = b.id;
  }
  std::printf(
      "%d symbols, %d levels a side; %zu update frames (%.0f B average): %zu flood (%d s of 100 ms updates), %zu paced "
      "(%d s)\n",
      symbols, kLevels, frames.size(), static_cast<double>(frame_bytes) / static_cast<double>(frames.size()),
      flood_end - warm, flood_s, total - flood_end, paced_s);

  // Baseline: a plain WebSocket read of the warm-up and flood frames.
  double raw_rate = 0;
  {
    FakeExchangeOptions fo;
    fo.frames.assign(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(flood_end));
    fo.frames_per_second = 1'000'000'000;
    FakeExchange ex(fo);
    const auto port = std::stoi(ex.ws_url().substr(ex.ws_url().rfind(':') + 1));
    WsClient ws(port, "/stream?streams=raw");
    std::size_t bytes = ws.receive().size();
    const auto t0 = Clock::now();
    for (std::size_t n = 1; n < flood_end; ++n) bytes += ws.receive().size();
    const double s = seconds_since(t0);
    raw_rate = static_cast<double>(flood_end - 1) / s;
    std::printf("raw WebSocket read:       %9.0f updates/s (%zu frames, %.1f MB in %.2f s, one core)\n",
                static_cast<double>(flood_end - 1) / s, flood_end, static_cast<double>(bytes) / 1e6, s);
  }

  // The pipeline.
  FakeExchangeOptions fo;
  fo.frames = frames;
  fo.frames_per_second = 1000;
  fo.hold_at = warm;
  fo.depth = [&snapshots](const std::string& symbol, std::size_t) { return snapshots.at(symbol); };
  FakeExchange ex(fo);
  TempDir dir;
  const auto log = [&](const char* name) { return (dir.path() / name).string(); };
  Process broker({binary("dev-broker"), "--partitions", "6"}, {}, log("broker.log"));
  const auto bootstrap = broker.read_line(std::chrono::seconds(30));
  if (!bootstrap) {
    std::fprintf(stderr, "dev-broker did not start:\n%s\n", read_file(log("broker.log")).c_str());
    return 1;
  }
  const int gateway_port = free_port();
  std::map<std::string, std::string> common{
      {"KAFKA_BOOTSTRAP_SERVERS", *bootstrap}, {"ADMIN_PORT", "0"}, {"LOG_LEVEL", "warn"}};
  auto genv = common;
  genv.insert(
      {{"GATEWAY_PORT", std::to_string(gateway_port)}, {"GATEWAY_BIND", "127.0.0.1"}, {"GATEWAY_RATE_LIMIT", "0"}});
  Process gateway({binary("gateway")}, genv, log("gateway.log"));
  const auto rss_gateway_start = [&] {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    return rss_mib(gateway.pid());
  }();
  std::string symbol_list;
  for (const auto& b : books) symbol_list += (symbol_list.empty() ? "" : ",") + b.symbol;
  auto penv = common;
  penv.insert({{"BINANCE_SYMBOLS", symbol_list},
               {"BINANCE_STREAM", "aggTrade"},
               {"BINANCE_DEPTH", "100ms"},
               {"BINANCE_REST_WEIGHT_PER_MINUTE", "6000"},
               {"BINANCE_RESUME_LOOKBACK", "0"},
               {"BINANCE_WS_URL", ex.ws_url()},
               {"BINANCE_REST_URL", ex.rest_url()}});
  Process producer({binary("binance-producer")}, penv, log("producer.log"));
  HttpClient http;
  const auto url = "http://127.0.0.1:" + std::to_string(gateway_port) + "/binance/api/v3";
  const auto good_books = [&] {
    const auto r = http.get(url + "/ticker/bookTicker");
    return r.status == 200 ? static_cast<int>(std::count(r.body.begin(), r.body.end(), '{')) : 0;
  };
  const auto warm_start = Clock::now();
  if (!wait_for([&] { return good_books() == symbols; }, std::chrono::seconds(180))) {
    std::fprintf(stderr, "warm-up: %d of %d books good after 180 s\nproducer:\n%s\ngateway:\n%s\n", good_books(),
                 symbols, read_file(log("producer.log")).c_str(), read_file(log("gateway.log")).c_str());
    return 1;
  }
  std::printf("warm-up: %d books good at the gateway after %.1f s (snapshots of %d levels a side)\n", symbols,
              seconds_since(warm_start), kLevels);

  const auto at_id = [&](const std::string& symbol, std::int64_t id) {
    const auto r = http.get(url + "/depth?symbol=" + symbol + "&limit=1");
    return r.status == 200 && r.body.find("\"lastUpdateId\":" + std::to_string(id) + ",") != std::string::npos;
  };
  struct Cpu {
    double producer, broker, gateway;
  };
  const auto cpu = [&] {
    return Cpu{cpu_seconds(producer.pid()), cpu_seconds(broker.pid()), cpu_seconds(gateway.pid())};
  };

  // Idle: books held, no updates - what the processes spend on their own (timers, polls).
  {
    const auto i0 = cpu();
    const auto s0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(5));
    const auto i1 = cpu();
    const double wall = seconds_since(s0);
    std::printf("idle (%.1f s, no updates): share of a core - producer %.1f %%, dev-broker %.1f %%, gateway %.1f %%\n",
                wall, 100 * (i1.producer - i0.producer) / wall, 100 * (i1.broker - i0.broker) / wall,
                100 * (i1.gateway - i0.gateway) / wall);
  }

  // Flood.
  const auto c0 = cpu();
  const auto t0 = Clock::now();
  ex.release(flood_end, 1e9);
  const auto& last = books[(flood_end - 1) % books.size()].symbol;
  const bool flooded = wait_for(
      [&] {
        if (!at_id(last, id_after_flood.at(last))) return false;
        return std::all_of(books.begin(), books.end(),
                           [&](const GenBook& b) { return at_id(b.symbol, id_after_flood.at(b.symbol)); });
      },
      std::chrono::seconds(600));
  const double flood_wall = seconds_since(t0);
  const auto c1 = cpu();
  if (!flooded) {
    std::fprintf(stderr, "flood: the gateway did not reach the last ids in 600 s\n");
    return 1;
  }
  const double updates = static_cast<double>(flood_end - warm);
  std::printf("pipeline (flood):         %9.0f updates/s producer -> Kafka -> gateway (%.0f updates in %.2f s)\n",
              updates / flood_wall, updates, flood_wall);
  std::printf("  against the raw read:   %.2f of its rate\n", updates / flood_wall / raw_rate);
  std::printf(
      "  per CPU-second:         producer %.0f, dev-broker %.0f, gateway %.0f updates (CPU s: %.2f, %.2f, %.2f)\n",
      updates / (c1.producer - c0.producer), updates / (c1.broker - c0.broker), updates / (c1.gateway - c0.gateway),
      c1.producer - c0.producer, c1.broker - c0.broker, c1.gateway - c0.gateway);

  // Paced: the real rate.
  if (paced_s > 0) {
    const auto p0 = cpu();
    const auto s0 = Clock::now();
    ex.release(total, static_cast<double>(symbols) * per_second);
    wait_for([&] { return ex.finished(); }, std::chrono::seconds(paced_s + 60));
    const bool done = wait_for(
        [&] {
          return std::all_of(books.begin(), books.end(), [&](const GenBook& b) { return at_id(b.symbol, b.id); });
        },
        std::chrono::seconds(60));
    const double wall = seconds_since(s0);
    const auto p1 = cpu();
    std::printf(
        "paced (%d symbols x 10 updates/s = %zu/s for %.1f s%s): share of a core - producer %.1f %%, dev-broker %.1f "
        "%%, gateway %.1f %%\n",
        symbols, static_cast<std::size_t>(symbols) * per_second, wall, done ? "" : ", NOT all delivered",
        100 * (p1.producer - p0.producer) / wall, 100 * (p1.broker - p0.broker) / wall,
        100 * (p1.gateway - p0.gateway) / wall);
  }

  // The books must be right for the figures to count.
  int wrong = 0;
  for (const auto& b : books) {
    const auto r = http.get(url + "/depth?symbol=" + b.symbol + "&limit=5");
    std::vector<std::pair<std::int64_t, std::int64_t>> bids, asks;
    for (auto it = b.bids.begin(); it != b.bids.end() && bids.size() < 5; ++it) bids.emplace_back(*it);
    for (auto it = b.asks.begin(); it != b.asks.end() && asks.size() < 5; ++it) asks.emplace_back(*it);
    if (r.body != "{\"lastUpdateId\":" + std::to_string(b.id) + ",\"bids\":" + levels_json(bids) +
                      ",\"asks\":" + levels_json(asks) + "}")
      ++wrong;
  }
  std::printf("books at the gateway equal to the generator's (best 5 a side, last id): %d of %d\n", symbols - wrong,
              symbols);

  // Memory: a Book of kLevels a side (the structure the producer, the gateway and every
  // BookReader hold), measured by the allocator; then the gateway process as a whole.
  {
    const auto before = mallinfo2().uordblks;
    std::vector<Book> held(static_cast<std::size_t>(symbols));
    for (std::size_t i = 0; i < held.size(); ++i) {
      std::vector<PriceLevel> bids, asks;
      for (const auto& [p, q] : books[i].bids)
        bids.push_back({*Decimal::parse(price_text(p)), *Decimal::parse(qty_text(q))});
      for (const auto& [p, q] : books[i].asks)
        asks.push_back({*Decimal::parse(price_text(p)), *Decimal::parse(qty_text(q))});
      held[i].apply(bids, asks);
    }
    const auto bytes = static_cast<double>(mallinfo2().uordblks - before);
    std::size_t levels = 0;
    for (const auto& b : held) levels += b.bids().size() + b.asks().size();
    std::printf(
        "memory: a book level %.0f B (std::map node of two Decimals, sizeof(Decimal) %zu); a book of %zu levels %.0f "
        "kB\n",
        bytes / static_cast<double>(levels), sizeof(Decimal), levels / held.size(),
        bytes / static_cast<double>(held.size()) / 1e3);
  }
  const auto rss_gateway = rss_mib(gateway.pid());
  std::printf("gateway RSS: %.1f MiB idle, %.1f MiB holding %d books: %.0f kB a book, all included\n",
              rss_gateway_start, rss_gateway, symbols, (rss_gateway - rss_gateway_start) * 1024 / symbols);
  std::printf("binance-producer RSS: %.1f MiB\n", rss_mib(producer.pid()));
  producer.terminate();
  gateway.terminate();
  return wrong == 0 ? 0 : 1;
}
