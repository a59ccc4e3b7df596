#include "live_feed.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <thread>

#include "cryptoflow/clock.hpp"

namespace cryptoflow::binance {

struct LiveFeed::Slot {
  Slot(boost::asio::io_context& ioc, std::string url_text, const LiveOptions& o, std::uint64_t seed)
      : url(parse_ws_or_http_url(url_text, "BINANCE_WS_URL")),
        text(std::move(url_text)),
        backoff(o.reconnect_min, o.reconnect_max, seed),
        retry_timer(ioc),
        rotate_timer(ioc),
        overlap_timer(ioc) {}
  Url url;
  std::string text;
  std::shared_ptr<WsConnection> current, replacement;
  std::uint64_t current_id = 0, replacement_id = 0;
  bool current_open = false;
  Backoff backoff;
  boost::asio::steady_timer retry_timer, rotate_timer, overlap_timer;
};

LiveFeed::LiveFeed(LiveOptions options, Publisher& publisher, MetricsRegistry& m, RestGet rest)
    : options_(std::move(options)),
      publisher_(publisher),
      rest_(std::move(rest)),
      tls_(make_client_tls_context()),
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
      binary_frames_(m.counter("cryptoflow_binance_binary_frames_total", "Binary WebSocket messages (ignored)")),
      pings_(m.counter("cryptoflow_binance_pings_total", "Server pings answered with a pong")),
      connected_gauge_(m.gauge("cryptoflow_binance_connected", "Open WebSocket connections")) {
  for (const auto& [symbol, id] : options_.resume) tracker_.published(symbol, id);
  std::uint64_t seed = std::random_device{}();
  for (const auto& u : options_.urls) slots_.push_back(std::make_unique<Slot>(ioc_, u, options_, seed++));
}

LiveFeed::~LiveFeed() = default;

void LiveFeed::run(const std::function<bool()>& stop) {
  auto guard = boost::asio::make_work_guard(ioc_);
  for (auto& s : slots_) connect(*s, false);
  while (!stop()) ioc_.run_for(std::chrono::milliseconds(100));
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
      slot.overlap_timer.expires_after(options_.overlap);
      slot.overlap_timer.async_wait([this, &slot, id](boost::system::error_code ec) {
        if (ec || id != slot.replacement_id) return;
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
  };
  h.message = [this, &slot, id](std::string_view payload, bool binary) {
    if (id == slot.current_id) slot.backoff.reset();  // delivering again: the next failure starts small
    on_message(slot, payload, binary);
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

void LiveFeed::on_message(Slot& slot, std::string_view payload, bool binary) {
  if (binary) {
    binary_frames_.inc();
    DecodedFrame d;
    d.error = "binary frame of " + std::to_string(payload.size()) + " bytes";
    publisher_.count(d);
    return;
  }
  const auto d = decode_frame(payload, wall_clock_ms());
  publisher_.count(d);
  if (d.kind == FrameKind::server_shutdown && !slot.replacement) {
    rotations_.inc();
    log_info("serverShutdown: opening a replacement connection");
    connect(slot, true);
  }
  if (d.kind == FrameKind::trade) on_trade(d.trade);
}

void LiveFeed::on_trade(const Trade& t) {
  const auto r = tracker_.check(t.symbol, t.trade_id);
  if (r.verdict == GapTracker::Verdict::duplicate) {
    duplicates_.inc();
    return;
  }
  if (r.verdict == GapTracker::Verdict::resync) {  // the last id was bogus (REST could not tell), or ids restarted
    resyncs_.inc();
    log_warn("trade id far below the symbol's last one; starting the symbol over from it",
             {{"symbol", t.symbol}, {"trade_id", t.trade_id}, {"last", *tracker_.last(t.symbol)}});
    tracker_.reset(t.symbol, t.trade_id);
    publisher_.publish_trade(t);
    return;
  }
  if (r.verdict == GapTracker::Verdict::gap) {
    gaps_.inc();
    auto res = backfill(
        rest_, options_.rest_base, options_.agg, t.symbol, r.missing_from, r.missing_to, wall_clock_ms(),
        [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }, options_.backfill_max_pages);
    for (const auto& b : res.trades) {
      publisher_.publish_trade(b);
      tracker_.published(b.symbol, b.trade_id);
    }
    backfilled_.inc(res.trades.size());
    // The exchange's newest id is known and the trade claims one well past it: not a trade of
    // the exchange (a corrupted or forged frame). Were it published, every real trade up to its
    // id would be dropped as a repeat. A few ids past it could be REST lagging the stream.
    const auto newest = res.trades.empty() ? r.missing_from - 1 : res.trades.back().trade_id;
    if (res.past_exchange_end && t.trade_id - newest > kBackfillPage) {
      implausible_.inc();
      log_warn("trade id beyond the exchange's newest; dropped",
               {{"symbol", t.symbol}, {"trade_id", t.trade_id}, {"exchange_newest", newest}});
      return;
    }
    if (res.missing > 0) {
      unrecoverable_.inc(static_cast<std::uint64_t>(res.missing));
      log_error("trades lost: the REST API did not return them", {{"symbol", t.symbol},
                                                                  {"from", r.missing_from},
                                                                  {"to", r.missing_to},
                                                                  {"missing", res.missing},
                                                                  {"error", res.error}});
    }
    gap_log_(LogLevel::info, "gap filled",
             {{"symbol", t.symbol},
              {"from", r.missing_from},
              {"to", r.missing_to},
              {"backfilled", static_cast<std::int64_t>(res.trades.size())}});
  }
  publisher_.publish_trade(t);
  tracker_.published(t.symbol, t.trade_id);
}

}  // namespace cryptoflow::binance
