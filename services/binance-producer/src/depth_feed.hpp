#pragma once
// The books of the live mode (BINANCE_DEPTH): each symbol's diff-depth events go through a
// BookSync (depth_book.hpp), and what comes out becomes crypto.books records (book.hpp):
//   - a buffered event asks for a REST snapshot (one in flight per symbol); once the snapshot is
//     in place the book is published whole (a snapshot record), then every event applied is an
//     update record naming the id it follows;
//   - a gap, a lost connection or a start makes a resync record (the book is not good until the
//     next snapshot record) and a new snapshot is fetched;
//   - every snapshot_every, a book in sync is published whole again, so a reader that starts
//     anywhere has a good book within one interval.
// While a replacement connection reads beside the old one (a rotation), both deliver the same
// events: one already applied (u <= the book's id) is dropped as a repeat instead of a gap.
//
// Snapshots are fetched over REST within a weight budget (WeightBudget: Binance counts request
// weight per minute and IP; /api/v3/depth weighs 5 to 250 by limit), honouring 429/418 and
// their Retry-After.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backfill.hpp"
#include "cryptoflow/messages/book.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "cryptoflow/runtime/metrics.hpp"
#include "depth_book.hpp"

namespace cryptoflow::binance {

// At most `per_window` weight in any window of `window_ms` (same sliding rule as CallBudget).
class WeightBudget {
 public:
  explicit WeightBudget(int per_window, std::int64_t window_ms = 60'000);
  // Earliest time (ms) at which a call of `weight` stays in budget (and after any ban).
  [[nodiscard]] std::int64_t next_allowed(std::int64_t now_ms, int weight);
  void record(std::int64_t at_ms, int weight);
  // A 429/418 answer: nothing goes before until_ms.
  void ban_until(std::int64_t until_ms) { banned_until_ = std::max(banned_until_, until_ms); }

 private:
  int limit_;
  std::int64_t window_ms_;
  std::deque<std::pair<std::int64_t, int>> calls_;  // (time, weight) within the window
  int used_ = 0;
  std::int64_t banned_until_ = 0;
};

struct DepthOptions {
  BookSync::Chain chain = BookSync::Chain::spot;
  std::size_t limit = 1000;                          // snapshot depth, and levels a side kept
  std::chrono::milliseconds snapshot_every{30'000};  // a book in sync is published whole this often
  std::string source = "binance";
};

// Binance's weight of a depth snapshot for a limit: spot GET /api/v3/depth 1-100: 5, -500: 25,
// -1000: 50, -5000: 250; USD-M futures GET /fapi/v1/depth 5-50: 2, 100: 5, 500: 10, 1000: 20.
int depth_weight(std::size_t limit, BookSync::Chain chain = BookSync::Chain::spot);

struct SnapshotFetch {
  std::optional<DepthSnapshot> snapshot;
  int attempts = 0, throttled = 0;  // calls made; of them answered 429/418
  std::string error;                // the last failure
};
// GET <api_root>/depth?symbol=&limit= (api_root: "https://api.binance.com/api/v3" or
// "https://fapi.binance.com/fapi/v1") until a snapshot decodes, `attempts` other failures
// (an error status, no answer, not a snapshot) or stop() is true: each call waits for the budget;
// 429/418 bans every call until Retry-After (60 s without one) and is not counted as a failure;
// a failure is retried after 1, 2, 4 ... s. Giving up leaves the thread to the other REST work (the
// book asks again with its next event). now_ms and sleep are parameters so tests need not wait.
SnapshotFetch fetch_depth_snapshot(const RestGet& get, const std::string& api_root, const std::string& symbol,
                                   const DepthOptions& depth, WeightBudget& budget,
                                   const std::function<std::int64_t()>& now_ms,
                                   const std::function<void(std::chrono::milliseconds)>& sleep,
                                   const std::function<bool()>& stop, int attempts = 3);

class DepthBooks {
 public:
  using Emit = std::function<void(const BookRecord&)>;
  using Fetch = std::function<void(const std::string& symbol)>;  // answer with on_snapshot
  DepthBooks(DepthOptions options, Emit emit, Fetch fetch, MetricsRegistry& metrics);

  // A resync record for each symbol (reason "start": the books a reader holds from an earlier
  // run are not good until this run's snapshot).
  void start(const std::vector<std::string>& symbols, std::int64_t now_ms);
  // A diff event; overlapping: a replacement connection reads beside the current one.
  void on_update(DepthUpdate update, std::int64_t received_ms, bool overlapping);
  void on_snapshot(const std::string& symbol, const DepthSnapshot& snapshot, std::int64_t now_ms);
  // The snapshot could not be fetched: the symbol's next event asks again.
  void on_snapshot_failed(const std::string& symbol, const std::string& error);
  // The connection carrying these symbols' streams was lost: their books resync.
  void on_connection_lost(const std::vector<std::string>& symbols, std::int64_t now_ms);
  // Publishes whole the books in sync whose last snapshot record is snapshot_every old.
  void tick(std::int64_t now_ms);
  void invalid_frame(const std::string& error);

  [[nodiscard]] bool synced(const std::string& symbol) const;
  [[nodiscard]] const BookSync* find(const std::string& symbol) const;

 private:
  struct State {
    explicit State(const DepthOptions& o) : sync(o.chain, o.limit) {}
    BookSync sync;
    bool fetching = false;
    std::int64_t snapshot_at = 0;  // when its last snapshot record was written
  };
  State& state(const std::string& symbol);
  void resync(const std::string& symbol, State& s, const char* reason, std::int64_t now_ms);
  void publish_snapshot(const std::string& symbol, State& s, std::int64_t now_ms);
  void fetch(const std::string& symbol, State& s);
  void update_gauge();

  DepthOptions o_;
  Emit emit_;
  Fetch fetch_;
  std::map<std::string, State> books_;
  Counter& updates_;
  Counter& snapshots_;
  Counter& repeats_;
  Counter& stale_snapshots_;
  Counter& invalid_;
  Counter& failed_snapshots_;
  MetricsRegistry& metrics_;
  Gauge& out_of_sync_;
  RateLimitedLog resync_log_, invalid_log_, failed_log_;
};

}  // namespace cryptoflow::binance
