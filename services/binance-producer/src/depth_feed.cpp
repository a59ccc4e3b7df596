#include "depth_feed.hpp"

#include <algorithm>

namespace cryptoflow::binance {

WeightBudget::WeightBudget(int per_window, std::int64_t window_ms) : limit_(per_window), window_ms_(window_ms) {}

std::int64_t WeightBudget::next_allowed(std::int64_t now_ms, int weight) {
  while (!calls_.empty() && calls_.front().first + window_ms_ <= now_ms) {
    used_ -= calls_.front().second;
    calls_.pop_front();
  }
  std::int64_t at = std::max(now_ms, banned_until_);
  // The oldest calls leave the window first: wait until enough weight has left.
  int used = used_;
  for (const auto& [t, w] : calls_) {
    if (used + weight <= limit_) break;
    used -= w;
    at = std::max(at, t + window_ms_);
  }
  return at;
}

void WeightBudget::record(std::int64_t at_ms, int weight) {
  calls_.emplace_back(at_ms, weight);
  used_ += weight;
}

int depth_weight(std::size_t limit, BookSync::Chain chain) {
  if (chain == BookSync::Chain::futures) {
    if (limit <= 50) return 2;
    if (limit <= 100) return 5;
    return limit <= 500 ? 10 : 20;
  }
  if (limit <= 100) return 5;
  if (limit <= 500) return 25;
  if (limit <= 1000) return 50;
  return 250;
}

SnapshotFetch fetch_depth_snapshot(const RestGet& get, const std::string& api_root, const std::string& symbol,
                                   const DepthOptions& depth, WeightBudget& budget,
                                   const std::function<std::int64_t()>& now_ms,
                                   const std::function<void(std::chrono::milliseconds)>& sleep,
                                   const std::function<bool()>& stop, int attempts) {
  SnapshotFetch r;
  const auto url = api_root + "/depth?symbol=" + symbol + "&limit=" + std::to_string(depth.limit);
  const int weight = depth_weight(depth.limit, depth.chain);
  std::chrono::milliseconds backoff{1000};
  int failures = 0;
  while (!stop()) {
    const auto now = now_ms();
    if (const auto at = budget.next_allowed(now, weight); at > now) {
      sleep(std::chrono::milliseconds(at - now));
      continue;
    }
    budget.record(now, weight);
    ++r.attempts;
    const auto a = get(url);
    if (a.status == 200) {
      if (auto s = decode_depth_snapshot(a.body)) {
        r.snapshot = std::move(s);
        return r;
      }
      r.error = "GET " + url + ": the answer is not a depth snapshot";
    } else if (a.status == 429 || a.status == 418) {
      ++r.throttled;
      const auto wait = a.retry_after.count() > 0 ? a.retry_after : std::chrono::milliseconds(60'000);
      budget.ban_until(now + wait.count());
      r.error = "GET " + url + ": HTTP " + std::to_string(a.status);
      continue;  // the budget waits out the ban
    } else {
      r.error = "GET " + url + ": " + (a.status ? "HTTP " + std::to_string(a.status) : std::string("no answer"));
    }
    if (++failures >= attempts) return r;
    sleep(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(30'000));
  }
  return r;
}

DepthBooks::DepthBooks(DepthOptions options, Emit emit, Fetch fetch, MetricsRegistry& m)
    : o_(std::move(options)),
      emit_(std::move(emit)),
      fetch_(std::move(fetch)),
      updates_(m.counter("cryptoflow_binance_book_updates_total", "Depth events applied and published as updates")),
      snapshots_(m.counter("cryptoflow_binance_book_snapshots_total", "Whole books published (in sync, periodic)")),
      repeats_(m.counter("cryptoflow_binance_depth_repeats_total",
                         "Depth events already applied, read again during a connection overlap (dropped)")),
      stale_snapshots_(m.counter("cryptoflow_binance_depth_stale_snapshots_total",
                                 "REST snapshots older than the first buffered event (fetched again)")),
      invalid_(m.counter("cryptoflow_binance_decode_errors_total", "Frames that could not be decoded",
                         {{"kind", "invalid_depth"}})),
      failed_snapshots_(m.counter("cryptoflow_binance_depth_snapshot_failures_total",
                                  "REST snapshots given up after 3 failed calls (asked again with the next event)")),
      metrics_(m),
      out_of_sync_(m.gauge("cryptoflow_binance_books_out_of_sync", "Books waiting for a snapshot")) {}

DepthBooks::State& DepthBooks::state(const std::string& symbol) {
  auto it = books_.find(symbol);
  if (it == books_.end()) {
    it = books_.try_emplace(symbol, o_).first;
    update_gauge();
  }
  return it->second;
}

void DepthBooks::start(const std::vector<std::string>& symbols, std::int64_t now_ms) {
  for (const auto& symbol : symbols) resync(symbol, state(symbol), "start", now_ms);
}

void DepthBooks::on_update(DepthUpdate u, std::int64_t received_ms, bool overlapping) {
  const auto symbol = u.symbol;
  auto& s = state(symbol);
  if (overlapping && s.sync.synced() && u.final_id <= s.sync.last_update_id()) {
    repeats_.inc();
    return;
  }
  const auto before = s.sync.last_update_id();
  BookRecord r;
  r.first_id = u.first_id;
  r.id = u.final_id;
  r.event_time = u.event_time;
  r.bids = u.bids;  // the event's levels: the reader applies and trims exactly as the book did
  r.asks = u.asks;
  switch (s.sync.on_update(std::move(u))) {
    case BookSync::Result::buffered: fetch(symbol, s); return;
    case BookSync::Result::stale: return;
    case BookSync::Result::applied:
      r.kind = BookRecord::Kind::update;
      r.source = o_.source;
      r.symbol = symbol;
      r.previous_id = before;
      r.received_time = received_ms;
      emit_(r);
      updates_.inc();
      return;
    case BookSync::Result::gap:
      resync(symbol, s, "gap", received_ms);
      fetch(symbol, s);
      return;
    case BookSync::Result::synced:
    case BookSync::Result::too_old:
    case BookSync::Result::ignored: return;  // snapshot results
  }
}

void DepthBooks::on_snapshot(const std::string& symbol, const DepthSnapshot& snapshot, std::int64_t now_ms) {
  auto& s = state(symbol);
  s.fetching = false;
  switch (s.sync.on_snapshot(snapshot)) {
    case BookSync::Result::synced:
      publish_snapshot(symbol, s, now_ms);
      update_gauge();
      return;
    case BookSync::Result::too_old:
      stale_snapshots_.inc();
      fetch(symbol, s);
      return;
    case BookSync::Result::gap:  // the buffered events do not chain after it: another one
      fetch(symbol, s);
      return;
    default: return;
  }
}

void DepthBooks::on_snapshot_failed(const std::string& symbol, const std::string& error) {
  state(symbol).fetching = false;
  failed_snapshots_.inc();
  failed_log_(LogLevel::warn, "depth snapshot not fetched; asking again with the next event",
              {{"symbol", symbol}, {"error", error}});
}

void DepthBooks::on_connection_lost(const std::vector<std::string>& symbols, std::int64_t now_ms) {
  for (const auto& symbol : symbols) {
    auto& s = state(symbol);
    if (s.sync.synced()) resync(symbol, s, "connection", now_ms);
    s.sync.restart();
  }
  update_gauge();
}

void DepthBooks::tick(std::int64_t now_ms) {
  for (auto& [symbol, s] : books_)
    if (s.sync.synced() && now_ms - s.snapshot_at >= o_.snapshot_every.count()) publish_snapshot(symbol, s, now_ms);
}

void DepthBooks::invalid_frame(const std::string& error) {
  invalid_.inc();
  invalid_log_(LogLevel::warn, "invalid depth event", {{"error", error}});
}

bool DepthBooks::synced(const std::string& symbol) const {
  const auto* s = find(symbol);
  return s != nullptr && s->synced();
}

const BookSync* DepthBooks::find(const std::string& symbol) const {
  const auto it = books_.find(symbol);
  return it == books_.end() ? nullptr : &it->second.sync;
}

void DepthBooks::resync(const std::string& symbol, State& s, const char* reason, std::int64_t now_ms) {
  BookRecord r;
  r.kind = BookRecord::Kind::resync;
  r.source = o_.source;
  r.symbol = symbol;
  r.id = s.sync.last_update_id();
  r.event_time = r.received_time = now_ms;
  r.reason = reason;
  emit_(r);
  metrics_
      .counter("cryptoflow_binance_book_resyncs_total", "Books marked not good until the next snapshot",
               {{"reason", reason}})
      .inc();
  if (std::string_view(reason) != "start")
    resync_log_(LogLevel::warn, "book out of sync; fetching a snapshot",
                {{"symbol", symbol}, {"reason", reason}, {"last_id", r.id}});
  update_gauge();
}

void DepthBooks::publish_snapshot(const std::string& symbol, State& s, std::int64_t now_ms) {
  const auto& book = s.sync.book();
  BookRecord r;
  r.kind = BookRecord::Kind::snapshot;
  r.source = o_.source;
  r.symbol = symbol;
  r.id = s.sync.last_update_id();
  r.event_time = r.received_time = now_ms;
  r.depth = static_cast<std::int64_t>(o_.limit);
  r.bids = book.top_bids(o_.limit);
  r.asks = book.top_asks(o_.limit);
  emit_(r);
  snapshots_.inc();
  s.snapshot_at = now_ms;
}

void DepthBooks::fetch(const std::string& symbol, State& s) {
  if (s.fetching) return;
  s.fetching = true;
  fetch_(symbol);
}

void DepthBooks::update_gauge() {
  out_of_sync_.set(static_cast<double>(
      std::count_if(books_.begin(), books_.end(), [](const auto& b) { return !b.second.sync.synced(); })));
}

}  // namespace cryptoflow::binance
