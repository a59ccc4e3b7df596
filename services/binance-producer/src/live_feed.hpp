#pragma once
// The live mode: one WebSocket connection per combined-stream URL (<= 1024 streams each), kept
// open for ever:
//   - a dropped or refused connection is retried after an exponential, jittered delay, within
//     Binance's budget of 300 connection attempts per 5 minutes;
//   - before the 24-hour cut (rotate_after) or on a serverShutdown event a replacement connection
//     is opened; the two read side by side for `overlap`, then the old one is closed once the
//     streams are seen to meet or it has gone quiet (its backlog read), at most 10 x overlap;
//   - every trade goes through a per-symbol GapTracker: a repeated id is dropped, a jump in ids
//     (after a reconnect, or anywhere) is filled from the REST API first, in id order.
// With depth on (options.depth), the same connections carry each symbol's diff-depth stream and
// DepthBooks (depth_feed.hpp) turns it into crypto.books records; its REST snapshots are fetched
// on the backfill thread, within one REST weight budget shared with the backfills.
// The connections, the gap tracker and publishing run on one thread (run()'s); a full Kafka
// queue blocks it, which stops reading the sockets. Backfills run on a second thread, one at a
// time: while a symbol's gap is fetched, its live trades are held (at most max_held, all symbols
// together; the rest come back by the next backfill), the sockets are read and pings answered,
// and behind() counts the symbol.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backfill.hpp"
#include "cryptoflow/runtime/call_budget.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "cryptoflow/runtime/metrics.hpp"
#include "depth_feed.hpp"
#include "live_plan.hpp"
#include "publisher.hpp"
#include "ws_client.hpp"

namespace cryptoflow::binance {

struct LiveOptions {
  std::vector<std::string> urls;  // from stream_urls()
  std::string rest_base = "https://api.binance.com";
  std::string rest_api = "/api/v3";  // USD-M futures: "/fapi/v1"
  bool agg = false;                  // aggTrade stream (ids are aggregate ids)
  std::chrono::milliseconds rotate_after = std::chrono::hours(23);
  std::chrono::milliseconds overlap = std::chrono::seconds(5);  // old and new connection both read
  std::chrono::milliseconds reconnect_min{1000};
  std::chrono::milliseconds reconnect_max{60'000};
  int attempts_per_window = 300;
  std::chrono::milliseconds attempt_window = std::chrono::minutes(5);
  WsOptions ws;
  // The last trade id of each symbol already in the topic (resume.hpp): the first live trade
  // after it is a gap to backfill, not a fresh start.
  std::map<std::string, std::int64_t> resume;
  int backfill_max_pages = 50;     // a longer gap keeps its newest ids; the older ones are counted lost
  std::size_t max_held = 200'000;  // live trades held while their symbol is backfilled
  // Order books (the URLs carry <symbol>@depth streams): none = no books.
  std::optional<DepthOptions> depth;
  int rest_weight_per_minute = 3000;  // REST weight the producer spends (snapshots, backfills)
};

class LiveFeed {
 public:
  LiveFeed(LiveOptions options, Publisher& publisher, MetricsRegistry& metrics, RestGet rest);
  ~LiveFeed();
  // Runs until stop() is true; then closes the connections and returns.
  void run(const std::function<bool()>& stop);
  // True while every URL has an open connection.
  [[nodiscard]] bool connected() const { return open_connections_.load() >= static_cast<int>(slots_.size()); }
  // Symbols whose gap is being backfilled (thread-safe, for /readyz).
  [[nodiscard]] int behind() const { return behind_.load(); }

 private:
  struct Slot;
  void connect(Slot& slot, bool replacement);
  void schedule_reconnect(Slot& slot, const std::string& reason);
  void schedule_rotation(Slot& slot);
  void await_overlap(Slot& slot, std::uint64_t id, std::chrono::milliseconds wait);
  FrameKind on_message(Slot& slot, std::string_view payload, bool binary, bool overlapping);
  void on_depth_frame(std::string_view payload, bool overlapping);
  void fetch_snapshot(const std::string& symbol);
  void schedule_book_tick();
  RestGet budgeted(RestGet get);
  void on_trade(const Trade& t);
  void publish(const Trade& t);
  void start_backfill(const Trade& trigger, const GapTracker::Result& gap);
  void on_backfilled(const std::string& symbol, BackfillResult result);
  void update_connected();
  void update_behind();

  struct Pending {  // a symbol being backfilled
    Trade trigger;  // the trade that revealed the gap
    std::int64_t from = 0, to = 0;
    std::map<std::int64_t, Trade> held;  // live trades since, by id
  };
  class Worker;

  LiveOptions options_;
  Publisher& publisher_;
  RestGet rest_raw_;          // as given
  RestGet rest_;              // waits for the REST weight budget first
  std::string api_root_;      // rest_base + rest_api, e.g. "https://api.binance.com/api/v3"
  WeightBudget rest_budget_;  // used on the worker's thread only (declared before it: it outlives the worker)
  boost::asio::io_context ioc_;
  boost::asio::ssl::context tls_;
  std::vector<std::unique_ptr<Slot>> slots_;
  GapTracker tracker_;
  std::map<std::string, Pending> pending_;
  std::size_t held_ = 0;
  std::atomic<int> behind_{0};
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<DepthBooks> depth_;
  boost::asio::steady_timer book_timer_;
  CallBudget budget_;  // connection attempts, on steady-clock milliseconds
  std::atomic<int> open_connections_{0};
  Counter& reconnects_;
  Counter& rotations_;
  Counter& gaps_;
  Counter& backfilled_;
  Counter& unrecoverable_;
  Counter& duplicates_;
  Counter& implausible_;
  Counter& resyncs_;
  Counter& deferred_;
  Gauge& behind_gauge_;
  Gauge& held_gauge_;
  Counter& binary_frames_;
  Counter& pings_;
  Gauge& connected_gauge_;
  RateLimitedLog gap_log_;
};

}  // namespace cryptoflow::binance
