// A corpus-driven mutation fuzzer for binance-producer's decoders (decode_frame, the REST
// backfill parser, the depth event and snapshot decoders) and the trade and book codecs: it mutates real recorded
// frames (tests/fixtures) with byte flips, insertions, deletions, splices, repeated and truncated runs, and feeds every
// input to the decoders. Built with the sanitizers (scripts/test.sh), any memory error or
// undefined behaviour aborts the run. Each decoded trade must also re-encode and decode to
// itself, and the one-pass trade decoder must agree with the DOM one (value and error) on every
// input; the corpus holds trade messages as the producer writes them for that. Each decoded depth
// event, as the book record the producer would write, must decode to itself; the corpus holds
// the recorded REST snapshots and book records too.
//
//   frame_fuzz [iterations] [seed]     (defaults: 1,000,000 and a fixed seed)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "binance-producer/src/backfill.hpp"
#include "binance-producer/src/depth_book.hpp"
#include "binance-producer/src/frame_decoder.hpp"
#include "binance-producer/src/replay.hpp"
#include "cryptoflow/messages/book.hpp"
#include "test_support.hpp"

using namespace cryptoflow;

namespace {

// The update record DepthBooks writes for an event that follows the one before it (U - 1).
BookRecord update_record(const binance::DepthUpdate& u) {
  BookRecord r;
  r.source = "binance";
  r.symbol = u.symbol;
  r.first_id = u.first_id;
  r.id = u.final_id;
  r.previous_id = u.first_id > 0 ? u.first_id - 1 : 0;
  r.event_time = r.received_time = u.event_time;
  r.bids = u.bids;
  r.asks = u.asks;
  return r;
}

std::vector<std::string> corpus() {
  std::vector<std::string> out;
  for (const char* f : {"/cryptofeed/BINANCE.ws.1.0", "/cryptofeed/BINANCE_FUTURES.ws.1.0",
                        "/cryptofeed/BINANCE_US.ws.1.0", "/freqtrade/XRPETH.aggTrade.jsonl"}) {
    binance::ReplayFile file(std::string(CRYPTOFLOW_FIXTURES_DIR) + f);
    int n = 0;
    while (auto line = file.next())
      if (n++ < 400) out.push_back(line->frame);
  }
  for (std::size_t i = 0, n = out.size(); i < n; ++i)
    if (const auto u = binance::decode_depth_update(out[i])) out.push_back(to_json(update_record(*u)));
  std::ifstream http(std::string(CRYPTOFLOW_FIXTURES_DIR) + "/cryptofeed/BINANCE.http.0.0");
  for (std::string line; std::getline(http, line);)
    if (const auto colon = line.find(": "); colon != std::string::npos) {
      out.push_back(line.substr(colon + 2));
      if (const auto s = binance::decode_depth_snapshot(out.back())) {
        BookRecord r;
        r.kind = BookRecord::Kind::snapshot;
        r.source = "binance";
        r.symbol = "NKNUSDT";
        r.id = s->last_update_id;
        r.depth = 1000;
        r.bids = s->bids;
        r.asks = s->asks;
        out.push_back(to_json(r));
        r.kind = BookRecord::Kind::resync;
        r.reason = "gap";
        out.push_back(to_json(r));
      }
    }
  const auto trx = test::trx_frames();
  out.insert(out.end(), trx.begin(), trx.begin() + 400);
  const auto trades = test::trx_trades();
  for (std::size_t i = 0; i < 400 && i < trades.size(); ++i) out.push_back(to_json(trades[i]));
  Trade agg = trades.front();
  agg.first_trade_id = 10;
  agg.last_trade_id = 12;
  out.push_back(to_json(agg));
  out.push_back(R"([{"id":1,"price":"1.5","qty":"2","quoteQty":"3","time":1700000000000,"isBuyerMaker":true}])");
  out.push_back(R"([{"a":1,"p":"1.5","q":"2","f":1,"l":2,"T":1700000000000,"m":false,"M":true}])");
  out.push_back(R"({"e":"serverShutdown","E":1700000000000})");
  return out;
}

const char* const kTokens[] = {"{",
                               "}",
                               "[",
                               "]",
                               "\"",
                               ":",
                               ",",
                               "null",
                               "true",
                               "-1",
                               "1e308",
                               "\"0.000\"",
                               "9223372036854775808",
                               "\\u0000",
                               "\"e\":\"trade\"",
                               "\"data\":",
                               "\xff",
                               "1E-30"};

std::string mutate(std::mt19937_64& rng, const std::vector<std::string>& seeds) {
  std::string s = seeds[rng() % seeds.size()];
  const int rounds = 1 + static_cast<int>(rng() % 3);
  for (int r = 0; r < rounds; ++r) {
    const auto pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 8) {
      case 0:
        if (!s.empty()) s[pos % s.size()] = static_cast<char>(rng());
        break;
      case 1: s.insert(pos, 1, static_cast<char>(rng())); break;
      case 2:
        if (!s.empty()) s.erase(pos % s.size(), 1 + rng() % 16);
        break;
      case 3: s.insert(pos, kTokens[rng() % (sizeof kTokens / sizeof *kTokens)]); break;
      case 4: s.resize(pos); break;
      case 5: {  // splice with another seed
        const auto& o = seeds[rng() % seeds.size()];
        s = s.substr(0, pos) + o.substr(o.empty() ? 0 : rng() % o.size());
        break;
      }
      case 6: {  // repeat a run (deep nesting, long numbers)
        const auto len = 1 + rng() % 4;
        const auto run = s.substr(pos, len);
        std::string rep;
        for (std::size_t i = 0, n = rng() % 2000; i < n; ++i) rep += run;
        s.insert(pos, rep);
        break;
      }
      default:
        if (!s.empty()) s[pos % s.size()] = static_cast<char>(s[pos % s.size()] ^ (1 << (rng() % 8)));
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  const auto seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 20261122ULL;
  const auto seeds = corpus();
  std::mt19937_64 rng(seed);
  long trade_messages = 0;
  long trades = 0, ignored = 0, malformed = 0, invalid = 0, rest_ok = 0, depth = 0, snapshots = 0, records = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) {
    const auto input = mutate(rng, seeds);
    const auto d = binance::decode_frame(input, 1);
    switch (d.kind) {
      case binance::FrameKind::trade: {
        ++trades;
        const auto again = decode_trade(to_json(d.trade));  // what the producer publishes must decode
        if (!again || !(*again.value == d.trade)) {
          std::fprintf(stderr, "round trip failed for input: %s\n", input.c_str());
          return 1;
        }
        break;
      }
      case binance::FrameKind::malformed: ++malformed; break;
      case binance::FrameKind::invalid: ++invalid; break;
      default: ++ignored;
    }
    std::vector<Trade> out;
    std::string error;
    if (binance::parse_rest_trades(input, (i & 1) != 0, "FUZZUSDT", 1, out, error)) ++rest_ok;
    const auto fast = decode_trade(input);
    const auto dom = detail::decode_trade_dom(input);
    if (fast.error != dom.error || fast.value.has_value() != dom.value.has_value() ||
        (fast.value && !(*fast.value == *dom.value))) {
      std::fprintf(stderr, "decode_trade and the DOM decoder disagree ('%s' against '%s') for input: %s\n",
                   fast.error.c_str(), dom.error.c_str(), input.c_str());
      return 1;
    }
    if (fast) ++trade_messages;
    // The depth and book decoders refuse at once what lacks their keys (RapidJSON's parse before
    // that is not ours to fuzz): they run on the inputs that carry them, which keeps the run's time.
    const auto has = [&](const char* key) { return input.find(key) != std::string::npos; };
    if (const auto u = has("depthUpdate") ? binance::decode_depth_update(input) : std::nullopt) {
      ++depth;
      const auto r = update_record(*u);
      const auto again = decode_book_record(to_json(r));
      if (r.previous_id < r.id && (!again || !(*again.value == r))) {
        std::fprintf(stderr, "book record round trip failed (%s) for input: %s\n", again.error.c_str(), input.c_str());
        return 1;
      }
    }
    if (has("lastUpdateId") && binance::decode_depth_snapshot(input)) ++snapshots;
    if (!has("\"type\"")) continue;
    if (const auto b = decode_book_record(input)) {
      ++records;
      const auto again = decode_book_record(to_json(*b.value));
      if (!again || !(*again.value == *b.value)) {
        std::fprintf(stderr, "book record re-encoding failed for input: %s\n", input.c_str());
        return 1;
      }
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "frame_fuzz: %ld inputs (seed %llu, %zu seeds) in %.1f s: %ld trades, %ld ignored, %ld malformed, "
      "%ld invalid; %ld REST pages parsed; %ld trade messages decoded alike by both trade decoders; %ld depth events, "
      "%ld depth snapshots, %ld book records decoded\n",
      iterations, static_cast<unsigned long long>(seed), seeds.size(), s, trades, ignored, malformed, invalid, rest_ok,
      trade_messages, depth, snapshots, records);
  return 0;
}
