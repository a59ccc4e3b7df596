#include "server.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api.hpp"
#include "cryptoflow/runtime/clock.hpp"
#include "session.hpp"
#include "streams.hpp"

namespace cryptoflow::gateway {

Server::Impl::Impl(ServerOptions options, const MarketStore& store_, MetricsRegistry& metrics,
                   std::shared_ptr<TopicBrowser> browser_, std::unique_ptr<CandleHistory> history_,
                   const TradeStore* trades_, const BookStore* books_)
    : o(std::move(options)),
      store(store_),
      trades(trades_),
      books(books_),
      browser(std::move(browser_)),
      history(std::move(history_)),
      history_worker(history ? std::make_unique<Worker>(64) : nullptr),
      hub(static_cast<std::uint64_t>(wall_clock_ms()), o.events_kept, o.events_kept_bytes),
      weights(WeightOptions{.per_minute = o.weight_per_minute}),
      requests(metrics.counter("cryptoflow_gateway_requests_total",
                               "HTTP requests read (WebSocket and SSE handshakes included)")),
      rate_limited(
          metrics.counter("cryptoflow_gateway_rate_limited_total", "requests answered 429 (per-client limit)")),
      weight_limited(metrics.counter("cryptoflow_gateway_weight_limited_total",
                                     "requests answered 429: the address's request weight per minute was used")),
      banned(metrics.counter("cryptoflow_gateway_banned_total",
                             "requests answered 418: the address went on after 429 answers and is banned a while")),
      refused(metrics.counter("cryptoflow_gateway_refused_connections_total",
                              "connections closed at accept: GATEWAY_MAX_CONNECTIONS reached")),
      refused_per_address(metrics.counter(
          "cryptoflow_gateway_refused_per_address_total",
          "connections answered 429 and closed: their address holds GATEWAY_MAX_CONNECTIONS_PER_ADDRESS")),
      accept_errors(metrics.counter("cryptoflow_gateway_accept_errors_total",
                                    "accepts that failed (out of file descriptors): retried after a pause")),
      request_timeouts(metrics.counter("cryptoflow_gateway_request_timeouts_total",
                                       "connections closed: a request not read within GATEWAY_REQUEST_TIMEOUT, "
                                       "or no next request within GATEWAY_IDLE_TIMEOUT")),
      dropped(metrics.counter("cryptoflow_gateway_dropped_clients_total",
                              "WebSocket and SSE clients dropped for falling behind GATEWAY_CLIENT_BUFFER (or, "
                              "resuming, behind what the gateway keeps)")),
      stalled(metrics.counter("cryptoflow_gateway_stalled_clients_total",
                              "WebSocket and SSE clients closed: a write did not finish within GATEWAY_WRITE_TIMEOUT")),
      history_queries(metrics.counter("cryptoflow_gateway_history_queries_total",
                                      "candle requests that read older candles from InfluxDB (INFLUX_URL)")),
      history_failures(metrics.counter("cryptoflow_gateway_history_failures_total",
                                       "of those, InfluxDB did not answer: the held candles served, with a Warning")),
      open_connections(metrics.gauge("cryptoflow_gateway_connections", "open client connections")),
      streaming(metrics.gauge("cryptoflow_gateway_stream_clients", "open WebSocket and SSE clients")),
      max_connections_gauge(
          metrics.gauge("cryptoflow_gateway_max_connections",
                        "the connection limit in force (GATEWAY_MAX_CONNECTIONS or the file limit)")) {}

void Server::Impl::want(const std::string& stream, bool on) {
  if (on) {
    ++wanted[stream];
  } else if (auto it = wanted.find(stream); it != wanted.end() && --it->second == 0) {
    wanted.erase(it);
  }
}

// From the feed, on the I/O thread: candles and the rest to the hub; a trade becomes the
// @trade / @aggTrade events its streams' clients wait for. Either marks its symbol for the
// derived streams' next tick.
void Server::Impl::on_event(Event e) {
  if (e.kind == EventKind::book) {
    if (books != nullptr && !wanted.empty()) on_book(e);
    return;
  }
  if (e.kind == EventKind::trade) {
    on_trade(e);
    if (!wanted.empty()) changed.insert(e.symbol);
    return;
  }
  if (e.kind == EventKind::candle && !wanted.empty()) changed.insert(e.symbol);
  hub.publish(std::move(e));
}

void Server::Impl::on_trade(const Event& e) {
  const auto& t = *e.trade;
  const auto agg_stream = stream_name(e.symbol, "aggTrade");
  if (e.aggregate) {
    if (is_wanted(agg_stream))
      hub.broadcast(binance_event(agg_stream, binance_trade_event(e.symbol, t, true, wall_clock_ms())));
    return;
  }
  if (const auto trade_stream = stream_name(e.symbol, "trade"); is_wanted(trade_stream))
    hub.broadcast(binance_event(trade_stream, binance_trade_event(e.symbol, t, false, wall_clock_ms())));
  // Binance's aggregate: consecutive trades at the same time, price and side. One is sent when
  // the next trade does not continue it, or after a whole tick without a trade (RunFormer).
  if (!is_wanted(agg_stream)) {
    forming.erase(e.symbol);
    return;
  }
  if (const auto ended = forming.add(e.symbol, t))
    hub.broadcast(binance_event(agg_stream, binance_trade_event(e.symbol, *ended, true, wall_clock_ms())));
}

// A book's update (or the snapshot that made it good, or the record that made it not good)
// becomes its symbol's book stream events. A diff goes out as the producer made it on
// @depth@100ms; @depth gathers a second's diffs into one (U of the first, u of the last, each
// level's last quantity). A break in the chain is not papered over: the next diff does not
// follow the last one sent, and a client following Binance's procedure fetches a snapshot.
void Server::Impl::on_book(const Event& e) {
  const auto& r = *e.book;
  const auto& symbol = e.symbol;
  if (!e.book_good || r.kind != BookRecord::Kind::update) {
    gathered.erase(symbol);
  } else {
    if (const auto name = stream_name(symbol, "depth@100ms"); is_wanted(name))
      hub.broadcast(binance_event(name, binance_depth_event(r, wall_clock_ms())));
    if (is_wanted(stream_name(symbol, "depth"))) {
      auto& g = gathered[symbol];
      if (g.diff.symbol.empty()) {
        g.diff.symbol = symbol;
        g.diff.first_id = r.first_id;
      }
      g.diff.id = r.id;
      for (const auto& l : r.bids) g.bids.insert_or_assign(l.price, l.quantity);
      for (const auto& l : r.asks) g.asks.insert_or_assign(l.price, l.quantity);
    }
  }
  if (!e.book_good) return;
  books_changed.insert(symbol);
  for (const char* n : {"5", "10", "20"})
    if (const auto name = stream_name(symbol, std::string("depth") + n + "@100ms"); is_wanted(name))
      if (const auto v = books->view(symbol, static_cast<std::size_t>(std::atoi(n))))
        hub.broadcast(binance_event(name, binance_partial_depth_event(*v)));
  if (const auto name = stream_name(symbol, "bookTicker"); is_wanted(name)) {
    if (const auto v = books->view(symbol, 1)) {
      auto best = binance_book_ticker_event(symbol, BookView{0, v->bids, v->asks});  // the levels, not the id
      if (auto& sent = best_sent[symbol]; sent != best) {
        sent = std::move(best);
        hub.broadcast(binance_event(name, binance_book_ticker_event(symbol, *v)));
      }
    }
  } else {
    best_sent.erase(symbol);
  }
}

// Once a second: the gathered @depth diffs and the @depth<N> books of the symbols that changed.
void Server::Impl::tick_books() {
  for (auto& [symbol, g] : gathered) {
    for (const auto& [price, quantity] : g.bids) g.diff.bids.push_back({price, quantity});
    for (const auto& [price, quantity] : g.asks) g.diff.asks.push_back({price, quantity});
    if (const auto name = stream_name(symbol, "depth"); is_wanted(name))
      hub.broadcast(binance_event(name, binance_depth_event(g.diff, wall_clock_ms())));
  }
  gathered.clear();
  for (const auto& symbol : books_changed)
    for (const char* n : {"5", "10", "20"})
      if (const auto name = stream_name(symbol, std::string("depth") + n); is_wanted(name))
        if (const auto v = books->view(symbol, static_cast<std::size_t>(std::atoi(n))))
          hub.broadcast(binance_event(name, binance_partial_depth_event(*v)));
  books_changed.clear();
}

// Once a second: the streams made from what the store holds (tickers, the 5-minute average,
// klines rolled up from finer candles), for the symbols that changed, when a client names them.
void Server::Impl::tick_derived() {
  derived_timer.expires_after(std::chrono::seconds(1));
  derived_timer.async_wait([this](beast::error_code ec) {
    if (ec) return;
    tick_derived();
  });
  for (const auto& [symbol, run] : forming.tick()) {
    const auto name = stream_name(symbol, "aggTrade");
    if (is_wanted(name)) hub.broadcast(binance_event(name, binance_trade_event(symbol, run, true, wall_clock_ms())));
  }
  if (books != nullptr) tick_books();
  if (wanted.empty() || changed.empty()) {
    changed.clear();
    return;
  }
  const ApiContext ctx{store, wall_clock_ms(), false, nullptr, trades, books};
  std::string all_tickers = "[", all_minis = "[";
  const bool want_all = is_wanted("!ticker@arr"), want_all_minis = is_wanted("!miniTicker@arr");
  for (const auto& symbol : changed) {
    for (const bool mini : {false, true}) {
      const auto name = stream_name(symbol, mini ? "miniTicker" : "ticker");
      const bool one = is_wanted(name), all = mini ? want_all_minis : want_all;
      if (!one && !all) continue;
      auto payload = binance_ticker_event(symbol, mini, ctx);
      if (all) (mini ? all_minis : all_tickers).append(payload).append(",");
      if (one) hub.broadcast(binance_event(name, std::move(payload)));
    }
    if (const auto name = stream_name(symbol, "avgPrice"); is_wanted(name))
      if (auto payload = binance_avg_price_event(symbol, ctx)) hub.broadcast(binance_event(name, std::move(*payload)));
    // Klines of intervals the store does not hold as such: the newest window, rolled up.
    const auto prefix = stream_name(symbol, "kline_");
    const auto held = store.intervals(symbol);
    for (auto it = wanted.lower_bound(prefix); it != wanted.end() && it->first.starts_with(prefix); ++it) {
      const auto interval = it->first.substr(prefix.size());
      if (serves_directly(held, interval, 0)) continue;  // the store's own candles are sent as they change
      Response ignored;
      const auto candles = binance_candles({symbol, interval, std::nullopt, std::nullopt, 1}, 0, ctx, ignored);
      if (!candles.empty()) hub.broadcast(binance_event(it->first, binance_kline_event(candles.back(), ctx.now_ms)));
    }
  }
  changed.clear();
  for (auto* text : {&all_tickers, &all_minis}) {
    if (text->size() == 1) continue;
    text->back() = ']';
    hub.broadcast(binance_event(text == &all_tickers ? "!ticker@arr" : "!miniTicker@arr", std::move(*text)));
  }
}

bool Server::Impl::allow(const std::string& client) {
  if (o.requests_per_second <= 0) return true;
  const auto now = o.clock();
  if (buckets.size() > 100'000)
    std::erase_if(buckets, [&](const auto& b) { return now - b.second.at > std::chrono::minutes(1); });
  auto [it, fresh] = buckets.try_emplace(client, Bucket{o.request_burst, now});
  auto& b = it->second;
  b.tokens =
      std::min(o.request_burst, b.tokens + std::chrono::duration<double>(now - b.at).count() * o.requests_per_second);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void Server::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) return on_accept_error(ec);
    accept_delay = std::chrono::milliseconds(0);
    if (accept_failing) {
      accept_failing = false;
      update_accepting();
      log_info("gateway: accepting connections again", {});
    }
    beast::error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec);
    const auto address = peer_ec ? std::string("?") : peer.address().to_string();
    // A refused client is told why in one small write on the new socket (its buffer is empty,
    // so the write does not block), then closed.
    const auto refuse = [&socket](std::string_view status, std::string_view message) {
      const auto body = std::string(R"({"error":{"status":)")
                            .append(status.substr(0, 3))
                            .append(R"(,"message":")")
                            .append(message)
                            .append("\"}}");
      const auto answer = std::string("HTTP/1.1 ")
                              .append(status)
                              .append(
                                  "\r\nRetry-After: 1\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                  "Content-Length: ")
                              .append(std::to_string(body.size()))
                              .append("\r\n\r\n")
                              .append(body);
      beast::error_code ignored;
      socket.non_blocking(true, ignored);
      // The request already received is read (and dropped) first: closing a socket with unread
      // bytes makes the kernel send a reset, which can take the answer with it.
      std::array<char, 4096> drop{};
      for (int i = 0; i < 16 && socket.read_some(asio::buffer(drop), ignored) > 0;) ++i;
      socket.write_some(asio::buffer(answer), ignored);
      socket.shutdown(tcp::socket::shutdown_send, ignored);
      socket.close(ignored);
    };
    const bool proxy =
        std::find(o.trusted_proxies.begin(), o.trusted_proxies.end(), address) != o.trusted_proxies.end();
    if (connections >= o.max_connections) {
      refused.inc();
      refuse("503 Service Unavailable", "the gateway holds all the connections it may (GATEWAY_MAX_CONNECTIONS)");
    } else if (!proxy && per_address.contains(address) && per_address[address] >= o.max_connections_per_address) {
      refused_per_address.inc();
      refuse("429 Too Many Requests", "too many connections from this address (GATEWAY_MAX_CONNECTIONS_PER_ADDRESS)");
    } else {
      // SO_KEEPALIVE: a stream to a host that vanished ends even while nothing is sent.
      beast::error_code ignored;
      socket.set_option(asio::socket_base::keep_alive(true), ignored);
      start_http(*this, std::move(socket), Slot(*this, proxy ? std::string() : address), address);
    }
    accept();
  });
}

// Out of file descriptors (EMFILE, ENFILE) or another failure: retrying at once would spin
// (the pending connection stays in the backlog), so the next accept waits, 10 ms doubling to 1 s.
void Server::Impl::on_accept_error(const beast::error_code& ec) {
  accept_errors.inc();
  const auto delay = accept_delay.count() == 0 ? std::chrono::milliseconds(10)
                                               : std::min(std::chrono::milliseconds(1000), accept_delay * 2);
  accept_delay = delay;
  accept_failing = true;
  update_accepting();
  accept_log(LogLevel::error, "gateway: accepting a connection failed; retrying after a pause",
             {{"error", ec.message()}, {"connections", connections}, {"pause_ms", delay.count()}});
  accept_pause.expires_after(delay);
  accept_pause.async_wait([this](beast::error_code e) {
    if (e) return;
    // Ready again once a descriptor can be had, even before the next client connects.
    if (const int probe = ::dup(acceptor.native_handle()); probe >= 0) {
      ::close(probe);
      if (accept_failing) log_info("gateway: accepting connections again", {});
      accept_failing = false;
      update_accepting();
    }
    accept();
  });
}

Server::Server(ServerOptions options, const MarketStore& store, MetricsRegistry& metrics,
               std::shared_ptr<TopicBrowser> browser, std::unique_ptr<CandleHistory> history, const TradeStore* trades,
               const BookStore* books)
    : impl_(std::make_unique<Impl>(std::move(options), store, metrics, std::move(browser), std::move(history), trades,
                                   books)) {
  auto& s = *impl_;
  // Each connection is a file descriptor: the limit must leave the process room for the rest.
  const auto files = raise_file_limit();
  if (files > s.o.reserved_files && s.o.max_connections > files - s.o.reserved_files) {
    log_warn("gateway: GATEWAY_MAX_CONNECTIONS lowered below the process's file limit",
             {{"configured", s.o.max_connections},
              {"in_force", files - s.o.reserved_files},
              {"file_limit", files},
              {"reserved", s.o.reserved_files}});
    s.o.max_connections = files - s.o.reserved_files;
  }
  s.max_connections_gauge.set(static_cast<double>(s.o.max_connections));
  const tcp::endpoint at(asio::ip::make_address(s.o.bind_address), static_cast<unsigned short>(s.o.port));
  s.acceptor.open(at.protocol());
  s.acceptor.set_option(asio::socket_base::reuse_address(true));
  beast::error_code ec;
  s.acceptor.bind(at, ec);
  if (ec) throw std::runtime_error("gateway: cannot listen on port " + std::to_string(s.o.port) + ": " + ec.message());
  s.acceptor.listen(asio::socket_base::max_listen_connections);
  s.accept();
  s.tick_derived();
  s.thread = std::thread([&s] {
    for (;;) {
      try {
        s.ioc.run();
        return;
      } catch (const std::exception& e) {  // a handler's bug must not end the server
        log_error("gateway: I/O handler failed", {{"error", e.what()}});
      }
    }
  });
}

Server::~Server() {
  // The I/O thread first: the workers' waiting jobs hold sessions, and stopping a worker drops
  // them on this thread, so nothing may run on the I/O thread then. A job that ends meanwhile
  // posts its answer to the stopped context, which drops it with the rest.
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->browser) impl_->browser->stop();
  if (impl_->history_worker) impl_->history_worker->stop();
  impl_->heavy_worker.stop();
}

int Server::port() const {
  return impl_->acceptor.local_endpoint().port();
}

bool Server::accepting() const {
  return impl_->accepting;
}

std::size_t Server::max_connections() const {
  return impl_->o.max_connections;
}

std::size_t raise_file_limit() {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) != 0) return SIZE_MAX;
  if (l.rlim_cur < l.rlim_max) {
    rlimit raised = l;
    raised.rlim_cur = l.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) l = raised;
  }
  return l.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<std::size_t>(l.rlim_cur);
}

void Server::publish(Event event) {
  asio::post(impl_->ioc, [s = impl_.get(), e = std::move(event)]() mutable { s->on_event(std::move(e)); });
}

std::map<std::string, StaticFile> load_static_files(const std::string& dir) {
  namespace fs = std::filesystem;
  static const std::map<std::string, std::string> types{{".html", "text/html; charset=utf-8"},
                                                        {".js", "text/javascript; charset=utf-8"},
                                                        {".mjs", "text/javascript; charset=utf-8"},
                                                        {".css", "text/css; charset=utf-8"},
                                                        {".svg", "image/svg+xml"},
                                                        {".png", "image/png"},
                                                        {".json", "application/json"},
                                                        {".ico", "image/x-icon"},
                                                        {".txt", "text/plain; charset=utf-8"}};
  std::map<std::string, StaticFile> files;
  const fs::path root(dir);
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const auto ext = entry.path().extension().string();
    const auto type = types.find(ext);
    if (type == types.end()) continue;  // served: the page's own kinds of files, nothing else
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    files["/" + fs::relative(entry.path(), root).generic_string()] = {type->second, body.str()};
  }
  if (!files.contains("/index.html")) throw std::runtime_error("no index.html in " + dir);
  return files;
}

}  // namespace cryptoflow::gateway
