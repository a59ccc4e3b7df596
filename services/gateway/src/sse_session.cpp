// Server-Sent Events: /v1/stream.
#include <boost/asio/write.hpp>

#include "api.hpp"
#include "api_detail.hpp"
#include "session.hpp"

namespace cryptoflow::gateway {

namespace {

std::string sse_frame(std::string_view id, std::string_view kind, std::string_view json) {
  std::string out;
  out.reserve(json.size() + 48);
  out.append("id: ").append(id).append("\nevent: ").append(kind).append("\ndata: ").append(json).append("\n\n");
  return out;
}

// A client starts with a snapshot of the current state its filter takes (or, resuming with a
// Last-Event-ID the hub still holds, with the events after it), then the live events. The
// snapshot and the replay are made as the client reads (refill), a symbol or a page of events
// at a time, so neither their size nor the client's speed costs more than its buffer. While it
// catches up, the events published meanwhile wait in the hub; a client slower than the hub keeps
// them is dropped with the reason as an SSE comment (it reconnects and gets a snapshot).
class SseSession final : public Subscriber,
                         public Streaming<SseSession>,
                         public std::enable_shared_from_this<SseSession> {
 public:
  SseSession(Server::Impl& s, beast::tcp_stream stream, Slot slot, Filter filter)
      : Streaming(s, "SSE"),
        stream_(std::move(stream)),
        slot_(std::move(slot)),
        filter_(std::move(filter)),
        heartbeat_(s.ioc) {}

  void start(const std::string& last_event_id, bool cors) {
    stream_.expires_never();
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "X-Accel-Buffering: no\r\nConnection: keep-alive\r\n";
    if (cors && !s_.o.cors_origin.empty())
      head.append("Access-Control-Allow-Origin: ").append(s_.o.cors_origin).append("\r\n");
    head.append("\r\nretry: 1000\n\n");
    const auto resumed = last_event_id.empty() ? std::nullopt : s_.hub.resumable(last_event_id);
    if (resumed) {
      phase_ = Phase::replay;
      cursor_ = *resumed;
    } else {
      phase_ = Phase::snapshot;
      cursor_ = s_.hub.last_seq();  // the snapshot is as of this event: the replay continues from it
      for (auto& symbol : s_.store.symbols())
        if (filter_.symbols.empty() || filter_.symbols.contains(symbol)) symbols_.push_back(std::move(symbol));
    }
    subscription_ = s_.hub.subscribe(weak_from_this());
    s_.streaming.add(1);
    send(std::make_shared<const std::string>(std::move(head)));
    watch();
    beat();
  }
  ~SseSession() override {
    s_.streaming.add(-1);
    s_.hub.unsubscribe(subscription_);
  }
  SseSession(const SseSession&) = delete;
  SseSession& operator=(const SseSession&) = delete;

  void deliver(const EventPtr& e) override {
    if (phase_ != Phase::live) return kick();  // the replay reaches it in the hub
    cursor_ = e->seq;
    if (!closed_ && filter_.matches(*e)) send(frame(*e));
  }

 private:
  friend class Streaming<SseSession>;
  enum class Phase { snapshot, replay, live };

  Message frame(const Event& e) const {
    return std::make_shared<const std::string>(sse_frame(s_.hub.id_of(e), e.kind_name(), e.json));
  }
  [[nodiscard]] bool wants(EventKind k) const { return filter_.kinds.empty() || filter_.kinds.contains(k); }

  // The next part of the snapshot or of the replay, while the queue has room.
  void refill() {
    while (has_room() && !closed_ && phase_ == Phase::snapshot) snapshot_step();
    while (has_room() && !closed_ && phase_ == Phase::replay) {
      const auto events = s_.hub.range(cursor_, 256);
      if (!events)
        return drop("dropped: more events behind than the gateway keeps (GATEWAY_MAX_MEMORY); reconnect", s_.dropped);
      if (events->empty()) {
        phase_ = Phase::live;
        marks_.clear();
        marks_.shrink_to_fit();
        return;
      }
      for (const auto& e : *events) {
        if (!has_room()) break;  // the rest is fetched again from the cursor
        cursor_ = e->seq;
        if (filter_.matches(*e) && !in_snapshot(*e)) fill(frame(*e));
      }
    }
  }

  // One symbol's candles and indicators, or a page of tickers; the hub's sequence number when
  // it was read is kept, so the replay skips the events the snapshot already showed.
  void snapshot_step() {
    Event at;
    at.seq = cursor_;
    const auto id = s_.hub.id_of(at);
    if (next_symbol_ < symbols_.size()) {
      const auto& symbol = symbols_[next_symbol_++];
      marks_.emplace_back(symbol, s_.hub.last_seq());
      if (wants(EventKind::candle))
        for (const auto& interval : s_.store.intervals(symbol))
          if (filter_.intervals.empty() || filter_.intervals.contains(interval))
            if (const auto c = s_.store.last_candle(symbol, interval))
              fill(std::make_shared<const std::string>(sse_frame(id, "candle", to_json(*c))));
      if (wants(EventKind::indicator))
        for (const auto& i : s_.store.indicators(symbol))
          fill(std::make_shared<const std::string>(sse_frame(id, "indicator", to_json(i))));
      return;
    }
    if (wants(EventKind::ticker)) {
      const auto page = s_.store.tickers_after(after_coin_, after_vs_, 16);
      if (!page.empty()) {
        ticker_seq_ = s_.hub.last_seq();
        for (const auto& t : page) fill(std::make_shared<const std::string>(sse_frame(id, "ticker", to_json(t))));
        after_coin_ = page.back().coin;
        after_vs_ = page.back().vs_currency;
        return;
      }
    }
    phase_ = Phase::replay;
    symbols_.clear();
    symbols_.shrink_to_fit();
  }

  // The event is older than what the snapshot showed of its series.
  [[nodiscard]] bool in_snapshot(const Event& e) const {
    if (e.kind == EventKind::ticker) return e.seq <= ticker_seq_;
    const auto it = std::lower_bound(marks_.begin(), marks_.end(), e.symbol,
                                     [](const auto& mark, const std::string& s) { return mark.first < s; });
    return it != marks_.end() && it->first == e.symbol && e.seq <= it->second;
  }

  Message farewell(const std::string& why) { return std::make_shared<const std::string>(": " + why + "\n\n"); }
  void finish() { close(); }

  template <class Handler>
  void write(const std::string& text, Handler&& done) {
    asio::async_write(stream_, asio::buffer(text), std::forward<Handler>(done));
  }
  // A client that goes away is seen by a read that fails (it sends nothing after its request).
  void watch() {
    stream_.async_read_some(asio::buffer(probe_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->watch();
    });
  }
  // A comment line while nothing else is sent: proxies keep the stream open, and a write that
  // does not finish (GATEWAY_WRITE_TIMEOUT) shows a peer that stopped reading.
  void beat() {
    heartbeat_.expires_after(s_.o.heartbeat);
    heartbeat_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (self->out_.empty()) self->send(std::make_shared<const std::string>(":\n\n"));
      self->beat();
    });
  }
  void close() {
    if (closed_) return;
    closed_ = true;
    heartbeat_.cancel();
    stop_deadline();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  Slot slot_;
  Filter filter_;
  asio::steady_timer heartbeat_;
  std::array<char, 256> probe_{};
  std::uint64_t subscription_ = 0;
  Phase phase_ = Phase::live;
  std::uint64_t cursor_ = 0;          // the last event sent or skipped
  std::vector<std::string> symbols_;  // the snapshot's, sorted
  std::size_t next_symbol_ = 0;
  std::string after_coin_, after_vs_;
  std::vector<std::pair<std::string, std::uint64_t>> marks_;  // symbol -> hub sequence when read
  std::uint64_t ticker_seq_ = 0;
};

}  // namespace

std::optional<std::string> filter_from(const Request& r, Filter& f) {
  for (const auto& s :
       detail::csv(detail::param(r, "symbols").empty() ? detail::param(r, "symbol") : detail::param(r, "symbols")))
    f.symbols.insert(detail::upper(s));
  const char* interval_name = r.query.contains("intervals") ? "intervals" : "interval";
  for (const auto& i : detail::csv(detail::param(r, interval_name))) {
    if (interval_ms(i) == 0) return interval_name;
    f.intervals.insert(i);
  }
  for (const auto& t : detail::csv(detail::param(r, "types"))) {
    if (t == "candle")
      f.kinds.insert(EventKind::candle);
    else if (t == "indicator")
      f.kinds.insert(EventKind::indicator);
    else if (t == "ticker")
      f.kinds.insert(EventKind::ticker);
    else
      return "types";
  }
  return std::nullopt;
}

void start_sse(Server::Impl& s, beast::tcp_stream stream, Slot slot, Filter filter, const std::string& last_event_id,
               bool cors) {
  std::make_shared<SseSession>(s, std::move(stream), std::move(slot), std::move(filter))->start(last_event_id, cors);
}

}  // namespace cryptoflow::gateway
