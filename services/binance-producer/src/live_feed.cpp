#include "live_feed.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "cryptoflow/runtime/clock.hpp"

namespace cryptoflow::binance {

struct LiveFeed::Slot {
  Slot(boost::asio::io_context& ioc, std::string url_text, const LiveOptions& o, std::uint64_t seed)
      : url(parse_ws_or_http_url(url_text, "BINANCE_WS_URL")),
        text(std::move(url_text)),
        backoff(o.reconnect_min, o.reconnect_max, seed),
        retry_timer(ioc),
        rotate_timer(ioc),
        overlap_timer(ioc),
        depth_symbols(o.depth ? binance::depth_symbols(text) : std::vector<std::string>{}) {}
  Url url;
  std::string text;
  std::shared_ptr<WsConnection> current, replacement;
  std::uint64_t current_id = 0, replacement_id = 0;
  bool current_open = false;
  // While a replacement reads beside the current connection: when it opened, when the current
  // one last delivered a frame, whether the replacement delivered a trade, and whether the two
  // streams were seen to meet (a repeated trade once the replacement delivered one).
  std::chrono::steady_clock::time_point replacement_opened, current_heard;
  bool replacement_traded = false, streams_met = false;
  Backoff backoff;
  boost::asio::steady_timer retry_timer, rotate_timer, overlap_timer;
  std::vector<std::string> depth_symbols;  // whose books this connection's streams carry
};

// Runs REST jobs (backfills, depth snapshots) one at a time on its own thread; a job posts its
// result to the feed's thread with post_back. Its waits (budget, retries) end at once on stop().
class LiveFeed::Worker {
 public:
  explicit Worker(LiveFeed& feed) : feed_(feed), thread_([this] { loop(); }) {}
  ~Worker() { stop(); }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  void submit(std::function<void()> job) {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
    cv_.notify_all();
  }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }
  void sleep(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, d, [&] { return stopping_; });
  }
  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }
  template <class F>
  void post_back(F&& f) {
    if (!stopping()) boost::asio::post(feed_.ioc_, std::forward<F>(f));  // else the feed runs no handlers
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  LiveFeed& feed_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

namespace {
std::string api_root(std::string base, const std::string& api) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + api;
}
}  // namespace

LiveFeed::LiveFeed(LiveOptions options, Publisher& publisher, MetricsRegistry& m, RestGet rest)
    : options_(std::move(options)),
      publisher_(publisher),
      rest_raw_(std::move(rest)),
      rest_(budgeted(rest_raw_)),
      api_root_(api_root(options_.rest_base, options_.rest_api)),
      rest_budget_(options_.rest_weight_per_minute),
      tls_(make_client_tls_context()),
      book_timer_(ioc_),
      budget_(options_.attempts_per_window, options_.attempt_window.count()),
      reconnects_(m.counter("cryptoflow_binance_reconnects_total", "Connections lost or refused, then retried")),
      rotations_(m.counter("cryptoflow_binance_rotations_total",
                           "Replacement connections opened before the 24-hour cut or on serverShutdown")),
      gaps_(m.counter("cryptoflow_binance_gaps_total", "Jumps in trade ids found")),
      backfilled_(m.counter("cryptoflow_binance_backfilled_total", "Missing trades fetched over REST and published")),
      unrecoverable_(m.counter("cryptoflow_binance_unrecoverable_total", "Missing trades REST could not return")),
      duplicates_(m.counter("cryptoflow_binance_duplicates_dropped_total", "Trades seen twice (not republished)")),
      implausible_(m.counter("cryptoflow_binance_implausible_ids_total",
                             "Trades whose id is beyond the exchange's newest by REST (dropped)")),
      resyncs_(m.counter("cryptoflow_binance_id_resyncs_total",
                         "Trades whose id is far below the symbol's last id: the symbol started over there")),
      deferred_(m.counter("cryptoflow_binance_deferred_total",
                          "Live trades not held during a backfill (over max_held): fetched by the next one")),
      behind_gauge_(m.gauge("cryptoflow_binance_symbols_behind", "Symbols whose gap is being backfilled")),
      held_gauge_(m.gauge("cryptoflow_binance_held_trades", "Live trades held until their symbol's backfill ends")),
      binary_frames_(m.counter("cryptoflow_binance_binary_frames_total", "Binary WebSocket messages (ignored)")),
      pings_(m.counter("cryptoflow_binance_pings_total", "Server pings answered with a pong")),
      connected_gauge_(m.gauge("cryptoflow_binance_connected", "Open WebSocket connections")) {
  for (const auto& [symbol, id] : options_.resume) tracker_.published(symbol, id);
  std::uint64_t seed = std::random_device{}();
  for (const auto& u : options_.urls) slots_.push_back(std::make_unique<Slot>(ioc_, u, options_, seed++));
  if (options_.depth)
    depth_ = std::make_unique<DepthBooks>(
        *options_.depth, [this](const BookRecord& r) { publisher_.publish_book(r); },
        [this](const std::string& symbol) { fetch_snapshot(symbol); }, m);
}

// Backfill calls wait for the REST weight budget too (historicalTrades weighs 25, aggTrades 4).
RestGet LiveFeed::budgeted(RestGet get) {
  return [this, get = std::move(get)](const std::string& url) {
    const int weight = url.find("/historicalTrades") != std::string::npos ? 25 : 4;
    for (;;) {
      const auto now = wall_clock_ms();
      const auto at = rest_budget_.next_allowed(now, weight);
      if (at <= now) break;
      worker_->sleep(std::chrono::milliseconds(at - now));
      if (worker_->stopping()) return RestAnswer{};
    }
    rest_budget_.record(wall_clock_ms(), weight);
    return get(url);
  };
}

void LiveFeed::fetch_snapshot(const std::string& symbol) {
  worker_->submit([this, symbol] {
    auto r = fetch_depth_snapshot(
        rest_raw_, api_root_, symbol, *options_.depth, rest_budget_, [] { return wall_clock_ms(); },
        [this](std::chrono::milliseconds d) { worker_->sleep(d); }, [this] { return worker_->stopping(); });
    if (!r.snapshot) {
      if (!worker_->stopping())
        worker_->post_back([this, symbol, error = r.error] { depth_->on_snapshot_failed(symbol, error); });
      return;
    }
    if (r.attempts > 1)
      log_warn("depth snapshot took several calls",
               {{"symbol", symbol}, {"attempts", r.attempts}, {"throttled", r.throttled}, {"last_error", r.error}});
    worker_->post_back([this, symbol, s = std::move(*r.snapshot)] { depth_->on_snapshot(symbol, s, wall_clock_ms()); });
  });
}

void LiveFeed::schedule_book_tick() {
  book_timer_.expires_after(std::chrono::seconds(1));
  book_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    depth_->tick(wall_clock_ms());
    schedule_book_tick();
  });
}

LiveFeed::~LiveFeed() = default;  // worker_ first: it posts to ioc_

void LiveFeed::run(const std::function<bool()>& stop) {
  auto guard = boost::asio::make_work_guard(ioc_);
  worker_ = std::make_unique<Worker>(*this);
  if (depth_) {
    std::vector<std::string> symbols;
    for (const auto& s : slots_) symbols.insert(symbols.end(), s->depth_symbols.begin(), s->depth_symbols.end());
    depth_->start(symbols, wall_clock_ms());
    schedule_book_tick();
  }
  for (auto& s : slots_) connect(*s, false);
  while (!stop()) ioc_.run_for(std::chrono::milliseconds(100));
  // Trades held for a backfill are not published: they are not in the topic, so the next start
  // resumes before them.
  worker_->stop();
  book_timer_.cancel();
  for (auto& s : slots_) {
    for (auto* t : {&s->retry_timer, &s->rotate_timer, &s->overlap_timer}) t->cancel();
    for (auto& c : {s->current, s->replacement})
      if (c) c->close();
  }
  guard.reset();
  ioc_.run_for(std::chrono::seconds(2));  // let the close handshakes go out
  open_connections_ = 0;
  connected_gauge_.set(0);
}

void LiveFeed::update_connected() {
  int n = 0;
  for (const auto& s : slots_) n += s->current_open ? 1 : 0;
  open_connections_ = n;
  connected_gauge_.set(n);
}

void LiveFeed::connect(Slot& slot, bool replacement) {
  const auto now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
  if (const auto at = budget_.next_allowed(now); at > now) {  // over Binance's attempt budget
    auto& timer = replacement ? slot.overlap_timer : slot.retry_timer;
    timer.expires_after(std::chrono::milliseconds(at - now));
    timer.async_wait([this, &slot, replacement](boost::system::error_code ec) {
      if (!ec) connect(slot, replacement);
    });
    return;
  }
  budget_.record(now);
  static std::uint64_t next_id = 0;
  const auto id = ++next_id;
  WsHandlers h;
  h.opened = [this, &slot, id] {
    if (id == slot.current_id) {
      slot.current_open = true;
      update_connected();
      log_info("connected", {{"url", redact_url(slot.text).substr(0, 120)}});
      schedule_rotation(slot);
    } else if (id == slot.replacement_id) {
      // Both read for a while; the tracker drops what arrives twice. Then the old one goes.
      slot.replacement_opened = slot.current_heard = std::chrono::steady_clock::now();
      slot.replacement_traded = slot.streams_met = false;
      await_overlap(slot, id, options_.overlap);
    }
  };
  h.message = [this, &slot, id](std::string_view payload, bool binary) {
    if (id == slot.current_id) slot.backoff.reset();  // delivering again: the next failure starts small
    const bool overlapping = slot.replacement_id != 0;
    if (overlapping && id == slot.current_id) slot.current_heard = std::chrono::steady_clock::now();
    const auto repeats = duplicates_.value();
    const auto kind = on_message(slot, payload, binary, overlapping);
    if (overlapping && kind == FrameKind::trade) {
      if (id == slot.replacement_id) slot.replacement_traded = true;
      if (slot.replacement_traded && duplicates_.value() > repeats) slot.streams_met = true;
    }
  };
  h.ping = [this](std::string_view) { pings_.inc(); };
  h.closed = [this, &slot, id](const std::string& reason) {
    if (id == slot.replacement_id) {
      slot.replacement.reset();
      slot.replacement_id = 0;
      log_warn("replacement connection failed; the current one stays", {{"reason", reason}});
      slot.rotate_timer.expires_after(slot.backoff.next());
      slot.rotate_timer.async_wait([this, &slot](boost::system::error_code ec) {
        if (!ec && !slot.replacement) connect(slot, true);
      });
      return;
    }
    if (id != slot.current_id) return;
    slot.current_open = false;
    slot.current.reset();
    update_connected();
    if (depth_ && !slot.replacement) depth_->on_connection_lost(slot.depth_symbols, wall_clock_ms());
    if (slot.replacement) {  // the replacement takes over at once
      slot.overlap_timer.cancel();
      slot.current = std::move(slot.replacement);
      slot.current_id = slot.replacement_id;
      slot.replacement_id = 0;
      slot.current_open = true;  // it may still be handshaking; closed() comes if it fails
      update_connected();
      return;
    }
    schedule_reconnect(slot, reason);
  };
  auto conn = make_ws_connection(ioc_, tls_, slot.url, options_.ws, std::move(h));
  if (replacement) {
    slot.replacement = conn;
    slot.replacement_id = id;
  } else {
    slot.current = conn;
    slot.current_id = id;
  }
  conn->start();
}

// The old connection is closed once the overlap has passed and it can hold nothing the
// replacement does not bring: the two streams met (so everything the old one had queued before
// the replacement's first frame has arrived), or the old one has gone quiet for an overlap (its
// backlog drained: at the end of a replay, or on a symbol with no trades). A backlog on the old
// connection is thus read, not cut off with the trades in it; at most ten overlaps in all.
void LiveFeed::await_overlap(Slot& slot, std::uint64_t id, std::chrono::milliseconds wait) {
  slot.overlap_timer.expires_after(wait);
  slot.overlap_timer.async_wait([this, &slot, id](boost::system::error_code ec) {
    if (ec || id != slot.replacement_id) return;
    const auto now = std::chrono::steady_clock::now();
    const auto quiet = now - slot.current_heard;
    if (!slot.streams_met && quiet < options_.overlap && now - slot.replacement_opened < 10 * options_.overlap) {
      await_overlap(slot, id, std::chrono::duration_cast<std::chrono::milliseconds>(options_.overlap - quiet));
      return;
    }
    if (slot.current) slot.current->close();
    slot.current = std::move(slot.replacement);
    slot.current_id = id;
    slot.replacement_id = 0;
    slot.current_open = true;
    update_connected();
    log_info("switched to the replacement connection");
    schedule_rotation(slot);
  });
}

void LiveFeed::schedule_reconnect(Slot& slot, const std::string& reason) {
  reconnects_.inc();
  const auto delay = slot.backoff.next();
  log_warn("connection lost; reconnecting",
           {{"reason", reason}, {"delay_ms", static_cast<std::int64_t>(delay.count())}});
  slot.retry_timer.expires_after(delay);
  slot.retry_timer.async_wait([this, &slot](boost::system::error_code ec) {
    if (!ec) connect(slot, false);
  });
}

void LiveFeed::schedule_rotation(Slot& slot) {
  slot.rotate_timer.expires_after(options_.rotate_after);
  slot.rotate_timer.async_wait([this, &slot](boost::system::error_code ec) {
    if (ec || slot.replacement) return;
    rotations_.inc();
    log_info("opening a replacement connection before the 24-hour cut");
    connect(slot, true);
  });
}

FrameKind LiveFeed::on_message(Slot& slot, std::string_view payload, bool binary, bool overlapping) {
  if (binary) {
    binary_frames_.inc();
    DecodedFrame d;
    d.error = "binary frame of " + std::to_string(payload.size()) + " bytes";
    publisher_.count(d);
    return d.kind;
  }
  const auto d = decode_frame(payload, wall_clock_ms());
  publisher_.count(d);
  if (d.kind == FrameKind::server_shutdown && !slot.replacement) {
    rotations_.inc();
    log_info("serverShutdown: opening a replacement connection");
    connect(slot, true);
  }
  if (d.kind == FrameKind::trade) on_trade(d.trade);
  if (d.kind == FrameKind::ignored && depth_ && payload.find("\"depthUpdate\"") != std::string_view::npos)
    on_depth_frame(payload, overlapping);
  return d.kind;
}

void LiveFeed::on_depth_frame(std::string_view payload, bool overlapping) {
  if (auto u = decode_depth_update(payload)) {
    depth_->on_update(std::move(*u), wall_clock_ms(), overlapping);
  } else {
    depth_->invalid_frame("a depthUpdate event with a missing, ill-typed or out-of-range field");
  }
}

void LiveFeed::on_trade(const Trade& t) {
  if (const auto p = pending_.find(t.symbol); p != pending_.end()) {  // its gap is being fetched
    if (const auto last = tracker_.last(t.symbol); (last && t.trade_id <= *last) ||
                                                   t.trade_id == p->second.trigger.trade_id ||
                                                   p->second.held.count(t.trade_id) == 1) {
      duplicates_.inc();
    } else if (held_ >= options_.max_held) {
      deferred_.inc();  // not lost: past the last id, so the next gap fetches it
    } else {
      p->second.held.emplace(t.trade_id, t);
      held_gauge_.set(static_cast<double>(++held_));
    }
    return;
  }
  const auto r = tracker_.check(t.symbol, t.trade_id);
  switch (r.verdict) {
    case GapTracker::Verdict::duplicate: duplicates_.inc(); return;
    case GapTracker::Verdict::resync:  // the last id was bogus (REST could not tell), or ids restarted
      resyncs_.inc();
      log_warn("trade id far below the symbol's last one; starting the symbol over from it",
               {{"symbol", t.symbol}, {"trade_id", t.trade_id}, {"last", *tracker_.last(t.symbol)}});
      tracker_.reset(t.symbol, t.trade_id);
      publisher_.publish_trade(t);
      return;
    case GapTracker::Verdict::gap: start_backfill(t, r); return;
    case GapTracker::Verdict::first:
    case GapTracker::Verdict::in_order: publish(t); return;
  }
}

void LiveFeed::publish(const Trade& t) {
  publisher_.publish_trade(t);
  tracker_.published(t.symbol, t.trade_id);
}

void LiveFeed::start_backfill(const Trade& trigger, const GapTracker::Result& gap) {
  gaps_.inc();
  pending_[trigger.symbol] = Pending{trigger, gap.missing_from, gap.missing_to, {}};
  update_behind();
  worker_->submit([this, symbol = trigger.symbol, from = gap.missing_from, to = gap.missing_to] {
    auto result = backfill(
        rest_, api_root_, options_.agg, symbol, from, to, wall_clock_ms(),
        [this](std::chrono::milliseconds d) { worker_->sleep(d); }, options_.backfill_max_pages);
    worker_->post_back([this, symbol, r = std::move(result)]() mutable { on_backfilled(symbol, std::move(r)); });
  });
}

void LiveFeed::on_backfilled(const std::string& symbol, BackfillResult res) {
  auto it = pending_.find(symbol);
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  held_ -= p.held.size();
  held_gauge_.set(static_cast<double>(held_));
  update_behind();
  const Trade& t = p.trigger;
  for (const auto& b : res.trades) publish(b);
  backfilled_.inc(res.trades.size());
  // The exchange's newest id is known and the trade claims one well past it: not a trade of
  // the exchange (a corrupted or forged frame). Were it published, every real trade up to its
  // id would be dropped as a repeat. A few ids past it could be REST lagging the stream.
  const auto newest = res.trades.empty() ? p.from - 1 : res.trades.back().trade_id;
  if (res.past_exchange_end && t.trade_id - newest > kBackfillPage) {
    implausible_.inc();
    log_warn("trade id beyond the exchange's newest; dropped",
             {{"symbol", t.symbol}, {"trade_id", t.trade_id}, {"exchange_newest", newest}});
  } else {
    if (res.missing > 0) {
      unrecoverable_.inc(static_cast<std::uint64_t>(res.missing));
      log_error("trades lost: the REST API did not return them",
                {{"symbol", t.symbol}, {"from", p.from}, {"to", p.to}, {"missing", res.missing}, {"error", res.error}});
    }
    gap_log_(LogLevel::info, "gap filled",
             {{"symbol", t.symbol},
              {"from", p.from},
              {"to", p.to},
              {"backfilled", static_cast<std::int64_t>(res.trades.size())}});
    publish(t);
  }
  // What arrived meanwhile, in id order, as if it arrived now: repeats of the backfill are
  // dropped, and a new gap among them starts the next backfill (the rest is held again).
  for (const auto& [id, h] : p.held) on_trade(h);
}

void LiveFeed::update_behind() {
  behind_ = static_cast<int>(pending_.size());
  behind_gauge_.set(static_cast<double>(pending_.size()));
}

}  // namespace cryptoflow::binance
