#include "server.hpp"

#include <rapidjson/document.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "api.hpp"
#include "api_detail.hpp"
#include "cryptoflow/runtime/clock.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "limits.hpp"
#include "rollup.hpp"
#include "streams.hpp"

namespace cryptoflow::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct Server::Impl {
  Impl(ServerOptions options, const MarketStore& store, MetricsRegistry& metrics, std::shared_ptr<TopicBrowser> browser,
       std::unique_ptr<CandleHistory> history, const TradeStore* trades, const BookStore* books);

  ServerOptions o;
  const MarketStore& store;
  const TradeStore* trades;
  const BookStore* books;
  // The books' streams: a second's diffs gathered per symbol for <symbol>@depth, the symbols
  // whose book changed since the last tick (for @depth<N>), the best levels last sent on
  // @bookTicker (an event goes out only when they change).
  struct Gathered {
    BookRecord diff;
    Book::Bids bids;
    Book::Asks asks;
  };
  std::map<std::string, Gathered, std::less<>> gathered;
  std::set<std::string> books_changed;
  std::map<std::string, std::string, std::less<>> best_sent;
  // The Binance streams some WebSocket client names (how many name each), the symbols whose
  // candles or trades changed since the last tick of the derived streams, and the aggregate
  // trade being formed per symbol fed single trades.
  std::map<std::string, std::size_t, std::less<>> wanted;
  std::set<std::string> changed;
  RunFormer forming;
  std::shared_ptr<TopicBrowser> browser;
  std::unique_ptr<CandleHistory> history;
  std::unique_ptr<Worker> history_worker;  // its thread queries the history
  Worker heavy_worker{64};                 // calls whose cost grows with the symbols held
  Hub hub;
  std::size_t connections = 0;
  std::unordered_map<std::string, std::size_t> per_address;  // open connections by client address
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Bucket> buckets;
  WeightLimiter weights;
  Counter& requests;
  Counter& rate_limited;
  Counter& weight_limited;
  Counter& banned;
  Counter& refused;
  Counter& refused_per_address;
  Counter& accept_errors;
  Counter& request_timeouts;
  Counter& dropped;
  Counter& stalled;
  Counter& history_queries;
  Counter& history_failures;
  Gauge& open_connections;
  Gauge& streaming;
  Gauge& max_connections_gauge;
  std::atomic<bool> accepting{true};
  bool accept_failing = false;  // the last accept failed: retried after a pause
  std::chrono::milliseconds accept_delay{0};
  RateLimitedLog accept_log;
  // Last: destroyed first, with the handlers it holds (sessions), while the above still exist.
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_pause{ioc};
  asio::steady_timer derived_timer{ioc};
  std::thread thread;

  void accept();
  void want(const std::string& stream, bool on);
  [[nodiscard]] bool is_wanted(const std::string& stream) const { return wanted.contains(stream); }
  void on_event(Event e);
  void on_trade(const Event& e);
  void on_book(const Event& e);
  void tick_books();
  void tick_derived();
  void on_accept_error(const beast::error_code& ec);
  void update_accepting() { accepting = !accept_failing && connections < o.max_connections; }
  bool allow(const std::string& client);
};

namespace {

// One connection counted from accept to close, whichever session holds it, against the total
// and against its client's address (none for a trusted proxy's own connection).
class Slot {
 public:
  Slot(Server::Impl& s, std::string address) : s_(&s), address_(std::move(address)) {
    ++s.connections;
    if (!address_.empty()) ++s.per_address[address_];
    s.open_connections.set(static_cast<double>(s.connections));
    s.update_accepting();
  }
  Slot(Slot&& other) noexcept : s_(std::exchange(other.s_, nullptr)), address_(std::move(other.address_)) {}
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  Slot& operator=(Slot&&) = delete;
  ~Slot() {
    if (s_ == nullptr) return;
    release_address();
    --s_->connections;
    s_->open_connections.set(static_cast<double>(s_->connections));
    s_->update_accepting();
  }
  // Counts the connection against another address (a proxied client's); false, and unchanged,
  // when that address holds its limit already.
  bool rebind(const std::string& address) {
    if (address == address_) return true;
    if (s_->per_address[address] >= s_->o.max_connections_per_address) {
      if (s_->per_address[address] == 0) s_->per_address.erase(address);
      return false;
    }
    release_address();
    address_ = address;
    ++s_->per_address[address_];
    return true;
  }

 private:
  void release_address() {
    if (address_.empty()) return;
    const auto it = s_->per_address.find(address_);
    if (it != s_->per_address.end() && --it->second == 0) s_->per_address.erase(it);
  }
  Server::Impl* s_;
  std::string address_;
};

using Message = std::shared_ptr<const std::string>;

// A bounded queue of whole messages for one client: a client that falls further behind than the
// limit is dropped (closed), never buffered without end.
class Outbox {
 public:
  explicit Outbox(std::size_t limit) : limit_(limit) {}
  // false: over the limit (the caller drops the client).
  bool push(Message m) {
    if (bytes_ + m->size() > limit_) return false;
    bytes_ += m->size();
    queue_.push_back(std::move(m));
    return true;
  }
  [[nodiscard]] bool empty() const { return queue_.empty(); }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }
  // Drops what is queued but the first message when it is on its way.
  void clear(bool keep_front) {
    while (queue_.size() > (keep_front ? 1u : 0u)) {
      bytes_ -= queue_.back()->size();
      queue_.pop_back();
    }
  }
  void force(Message m) {  // past the limit: a last message
    bytes_ += m->size();
    queue_.push_back(std::move(m));
  }
  [[nodiscard]] const Message& front() const { return queue_.front(); }
  void pop() {
    bytes_ -= queue_.front()->size();
    queue_.pop_front();
  }

 private:
  std::size_t limit_;
  std::size_t bytes_ = 0;
  std::deque<Message> queue_;
};

// What a streaming session (SSE, WebSocket) sends: queued in order, one write at a time. A
// client further behind than GATEWAY_CLIENT_BUFFER, or whose replay outran what the hub keeps,
// is dropped: what is queued goes, the reason is sent (farewell), then the connection closes
// (finish). One whose write does not finish within GATEWAY_WRITE_TIMEOUT stopped reading: it is
// closed at once. Session provides write(text, handler), close() (which sets closed_),
// refill() (more of a replay or a snapshot, called while the queue has room), farewell(why) (a
// last message, or none) and finish().
template <class Session>
class Streaming {
 public:
  Streaming(Server::Impl& s, const char* what)
      : s_(s), out_(s.o.client_buffer_bytes), what_(what), write_deadline_(s.ioc) {}

 protected:
  void send(Message m) {
    if (closed_ || closing_) return;
    if (!out_.push(std::move(m)))
      return drop("dropped: more than GATEWAY_CLIENT_BUFFER bytes behind the live stream", s_.dropped);
    if (!writing_ && !refilling_) write_next();
  }
  void drop(const std::string& why, Counter& counter) {
    if (closed_ || closing_) return;
    counter.inc();
    log_warn(std::string("gateway: a ") + what_ + " client is dropped",
             {{"why", why}, {"buffer_bytes", s_.o.client_buffer_bytes}});
    closing_ = true;
    out_.clear(writing_);
    if (auto last = self().farewell(why)) out_.force(std::move(last));
    if (!writing_ && !refilling_) write_next();
  }
  // Part of a replay or snapshot (refill), queued while has_room(): never over the limit by
  // more than one step, so never a reason to drop the client.
  void fill(Message m) {
    if (!closed_ && !closing_) out_.force(std::move(m));
  }
  // Room for more of a replay: the queue is under half its limit.
  [[nodiscard]] bool has_room() const { return !closing_ && out_.bytes() < s_.o.client_buffer_bytes / 2; }
  void stop_deadline() { write_deadline_.cancel(); }
  void kick() {
    if (!writing_ && !refilling_) write_next();
  }

  Server::Impl& s_;
  Outbox out_;
  bool closed_ = false;
  bool closing_ = false;  // dropped: what is queued is the last

 private:
  Session& self() { return static_cast<Session&>(*this); }
  void write_next() {
    if (!closed_ && has_room()) {  // what refill() sends is queued: the write starts below
      refilling_ = true;
      self().refill();
      refilling_ = false;
    }
    if (out_.empty() || closed_) {
      writing_ = false;
      write_deadline_.cancel();
      if (closing_ && !closed_) self().finish();
      return;
    }
    writing_ = true;
    write_deadline_.expires_after(s_.o.write_timeout);
    write_deadline_.async_wait([session = self().shared_from_this()](beast::error_code ec) {
      if (ec || session->closed_) return;
      session->s_.stalled.inc();
      log_warn(std::string("gateway: a ") + session->what_ + " client stopped reading; closed",
               {{"write_timeout_ms", session->s_.o.write_timeout.count()}});
      session->close();
    });
    self().write(*out_.front(), [session = self().shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return session->close();
      session->out_.pop();
      session->write_next();
    });
  }

  const char* what_;
  bool writing_ = false;
  bool refilling_ = false;
  asio::steady_timer write_deadline_;
};

std::string sse_frame(std::string_view id, std::string_view kind, std::string_view json) {
  std::string out;
  out.reserve(json.size() + 48);
  out.append("id: ").append(id).append("\nevent: ").append(kind).append("\ndata: ").append(json).append("\n\n");
  return out;
}

std::string native_ws_frame(std::string_view id, std::string_view kind, std::string_view json) {
  std::string out;
  out.reserve(json.size() + 48);
  out.append(R"({"type":")")
      .append(kind)
      .append(R"(","id":")")
      .append(id)
      .append(R"(","data":)")
      .append(json)
      .append("}");
  return out;
}

// The native filter from a query (symbols=, intervals=, types=); an error names the parameter.
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

// ---- Server-Sent Events: /v1/stream ----
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

// Binance ends a WebSocket connection after 24 hours.
constexpr auto kBinanceConnectionLifetime = std::chrono::hours(24);

// ---- WebSocket: /binance/ws[/<streams>], /binance/stream?streams=..., /v1/ws ----
class WsSession final : public Subscriber, public Streaming<WsSession>, public std::enable_shared_from_this<WsSession> {
 public:
  enum class Mode { binance_raw, binance_combined, native };

  WsSession(Server::Impl& s, beast::tcp_stream stream, Slot slot, Mode mode)
      : Streaming(s, "WebSocket"), ws_(std::move(stream)), slot_(std::move(slot)), mode_(mode) {}
  ~WsSession() override {
    s_.streaming.add(-1);
    s_.hub.unsubscribe(subscription_);
    for (const auto& n : streams_) s_.want(n, false);
  }
  WsSession(const WsSession&) = delete;
  WsSession& operator=(const WsSession&) = delete;

  // Streams named in the URL (checked by the caller).
  void add_streams(const std::vector<std::string>& names) {
    for (const auto& n : names)
      if (streams_.insert(n).second) s_.want(n, true);
  }
  void set_filter(Filter f) { filter_ = std::move(f); }

  void start(http::request<http::string_body> request) {
    s_.streaming.add(1);
    beast::get_lowest_layer(ws_).expires_never();
    // A ping every half GATEWAY_STREAM_TIMEOUT while the peer sends nothing; a peer that answers
    // none (gone, or no longer reading) is closed at the timeout.
    websocket::stream_base::timeout t{};
    t.handshake_timeout = s_.o.request_timeout;
    t.idle_timeout = s_.o.stream_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(std::size_t{64} * 1024);
    upgrade_ = std::move(request);  // kept until the handshake is answered
    ws_.async_accept(upgrade_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->subscription_ = self->s_.hub.subscribe(self->weak_from_this());
      if (self->mode_ != Mode::native) {  // Binance ends every connection after 24 hours
        self->lifetime_.expires_after(kBinanceConnectionLifetime);
        self->lifetime_.async_wait([weak = self->weak_from_this()](beast::error_code wait) {
          if (auto s = weak.lock(); s && !wait) {
            s->reason_ = "connection lifetime (24 h) reached";
            s->finish();
          }
        });
      }
      self->read();
    });
  }

  void deliver(const EventPtr& e) override {
    if (closed_) return;
    if (mode_ == Mode::native) {
      if (subscribed_ && filter_.matches(*e))
        send(std::make_shared<const std::string>(native_ws_frame(s_.hub.id_of(*e), e->kind_name(), e->json)));
      return;
    }
    std::string name;
    if (e->kind == EventKind::binance) {
      name = e->stream;
    } else if (e->kind == EventKind::candle && e->candle) {
      name = binance_stream_name(*e->candle);
    } else {
      return;
    }
    if (!streams_.contains(name)) return;
    if (!e->binance_payload)
      e->binance_payload = std::make_shared<const std::string>(binance_kline_event(*e->candle, e->time_ms));
    if (mode_ == Mode::binance_raw) {
      send(e->binance_payload);
    } else {
      std::string out;
      out.reserve(e->binance_payload->size() + name.size() + 24);
      out.append(R"({"stream":")").append(name).append(R"(","data":)").append(*e->binance_payload).append("}");
      send(std::make_shared<const std::string>(std::move(out)));
    }
  }

 private:
  void read() {
    ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      const auto text = beast::buffers_to_string(self->in_.data());
      self->in_.consume(self->in_.size());
      self->on_message(text);
      self->read();
    });
  }

  void reply(const std::function<void(detail::Writer&)>& body) {
    rapidjson::StringBuffer b;
    detail::Writer w(b);
    body(w);
    send(std::make_shared<const std::string>(detail::text(b)));
  }

  void binance_error(int code, std::string_view msg, const rapidjson::Value* id) {
    reply([&](detail::Writer& w) {
      w.StartObject();
      detail::key(w, "error");
      w.StartObject();
      detail::key(w, "code");
      w.Int(code);
      detail::key(w, "msg");
      detail::string(w, msg);
      w.EndObject();
      detail::key(w, "id");
      if (id != nullptr)
        id->Accept(w);
      else
        w.Null();
      w.EndObject();
    });
  }

  // Binance's live subscription messages: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS.
  void on_binance_message(const rapidjson::Document& d) {
    const auto* id = d.HasMember("id") ? &d["id"] : nullptr;
    if (id != nullptr && !id->IsInt64() && !id->IsString() && !id->IsNull())
      return binance_error(1, "Invalid value type: expected an integer or a string for 'id'", nullptr);
    if (!d.HasMember("method") || !d["method"].IsString())
      return binance_error(2, "Invalid request: 'method' missing", id);
    const std::string method = d["method"].GetString();
    if (method == "LIST_SUBSCRIPTIONS") {
      return reply([&](detail::Writer& w) {
        w.StartObject();
        detail::key(w, "result");
        w.StartArray();
        for (const auto& s : streams_) detail::string(w, s);
        w.EndArray();
        detail::key(w, "id");
        id != nullptr ? id->Accept(w) : w.Null();
        w.EndObject();
      });
    }
    if (method == "SET_PROPERTY" || method == "GET_PROPERTY") return on_property(d, method, id);
    if (method != "SUBSCRIBE" && method != "UNSUBSCRIBE")
      return binance_error(2, "Invalid request: unknown method " + method, id);
    if (!d.HasMember("params") || !d["params"].IsArray())
      return binance_error(1, "Invalid value type: expected an array for 'params'", id);
    std::vector<std::string> names;
    for (const auto& p : d["params"].GetArray()) {
      if (!p.IsString()) return binance_error(1, "Invalid value type: a stream name is a string", id);
      names.emplace_back(p.GetString(), p.GetStringLength());
    }
    if (method == "SUBSCRIBE") {
      for (const auto& n : names)
        if (const auto parsed = parse_stream(n); !parsed.stream)
          return binance_error(2, "Invalid request: " + parsed.why, id);
      if (streams_.size() + names.size() > s_.o.max_subscriptions)
        return binance_error(2, "Invalid request: more than " + std::to_string(s_.o.max_subscriptions) + " streams",
                             id);
      add_streams(names);
    } else {
      for (const auto& n : names)
        if (streams_.erase(n) != 0) s_.want(n, false);
    }
    reply([&](detail::Writer& w) {
      w.StartObject();
      detail::key(w, "result");
      w.Null();
      detail::key(w, "id");
      id != nullptr ? id->Accept(w) : w.Null();
      w.EndObject();
    });
  }

  // {"method":"SET_PROPERTY","params":["combined",true]}: payloads wrapped {"stream":..,"data":..}
  // or not; GET_PROPERTY answers the setting.
  void on_property(const rapidjson::Document& d, const std::string& method, const rapidjson::Value* id) {
    const rapidjson::Value none;
    const auto& params = d.HasMember("params") ? d["params"] : none;
    if (!params.IsArray() || params.Empty() || !params[0].IsString())
      return binance_error(1, "Invalid value type: expected an array [\"combined\", ...] for 'params'", id);
    if (std::string_view(params[0].GetString()) != "combined") return binance_error(0, "Unknown property", id);
    if (method == "SET_PROPERTY") {
      if (params.Size() != 2 || !params[1].IsBool())
        return binance_error(1, "Invalid value type: expected Boolean", id);
      mode_ = params[1].GetBool() ? Mode::binance_combined : Mode::binance_raw;
    }
    reply([&](detail::Writer& w) {
      w.StartObject();
      detail::key(w, "result");
      if (method == "SET_PROPERTY")
        w.Null();
      else
        w.Bool(mode_ == Mode::binance_combined);
      detail::key(w, "id");
      id != nullptr ? id->Accept(w) : w.Null();
      w.EndObject();
    });
  }

  // The native messages: {"op":"subscribe","symbols":[...],"intervals":[...],"types":[...]}
  // replaces what the connection receives; {"op":"unsubscribe"} stops it.
  void on_native_message(const rapidjson::Document& d) {
    const auto fail = [&](std::string_view why) {
      reply([&](detail::Writer& w) {
        w.StartObject();
        detail::key(w, "type");
        detail::string(w, "error");
        detail::key(w, "message");
        detail::string(w, why);
        w.EndObject();
      });
    };
    if (!d.HasMember("op") || !d["op"].IsString()) return fail("'op' is required: subscribe or unsubscribe");
    const std::string op = d["op"].GetString();
    if (op == "unsubscribe") {
      subscribed_ = false;
    } else if (op == "subscribe") {
      Request r;
      for (const char* field : {"symbols", "intervals", "types"}) {
        if (!d.HasMember(field)) continue;
        if (!d[field].IsArray()) return fail(std::string(field) + " must be an array of strings");
        std::string joined;
        for (const auto& v : d[field].GetArray()) {
          if (!v.IsString()) return fail(std::string(field) + " must be an array of strings");
          joined.append(v.GetString()).append(",");
        }
        r.query[field] = joined;
      }
      Filter f;
      if (auto bad = filter_from(r, f)) return fail("bad " + *bad);
      if (f.symbols.size() > s_.o.max_subscriptions) return fail("too many symbols");
      filter_ = std::move(f);
      subscribed_ = true;
    } else {
      return fail("unknown op: " + op);
    }
    reply([&](detail::Writer& w) {
      w.StartObject();
      detail::key(w, "type");
      detail::string(w, subscribed_ ? "subscribed" : "unsubscribed");
      w.EndObject();
    });
  }

  void on_message(const std::string& text) {
    rapidjson::Document d;
    d.Parse(text.data(), text.size());
    if (d.HasParseError() || !d.IsObject()) {
      if (mode_ == Mode::native) {
        rapidjson::Document empty;
        empty.SetObject();
        return on_native_message(empty);
      }
      return binance_error(3, "Invalid JSON", nullptr);
    }
    if (mode_ == Mode::native) return on_native_message(d);
    on_binance_message(d);
  }

  friend class Streaming<WsSession>;
  template <class Handler>
  void write(const std::string& text, Handler&& done) {
    ws_.text(true);
    ws_.async_write(asio::buffer(text), std::forward<Handler>(done));
  }
  void refill() {}
  Message farewell(const std::string& why) {
    reason_ = why.substr(0, 120);  // a close frame's reason is at most 123 bytes
    return nullptr;
  }
  // The reason in a close frame (1008, policy violation), then the connection goes.
  void finish() {
    ws_.async_close(websocket::close_reason(websocket::close_code::policy_error, reason_),
                    [self = shared_from_this()](beast::error_code) { self->close(); });
  }
  void close() {
    if (closed_) return;
    closed_ = true;
    stop_deadline();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  websocket::stream<beast::tcp_stream> ws_;
  http::request<http::string_body> upgrade_;
  Slot slot_;
  Mode mode_;
  asio::steady_timer lifetime_{ws_.get_executor()};
  std::set<std::string> streams_;
  Filter filter_;
  bool subscribed_ = true;
  beast::flat_buffer in_;
  std::uint64_t subscription_ = 0;
  std::string reason_;
};

// ---- HTTP: requests on a kept-alive connection until it upgrades, streams, or closes ----
class HttpSession final : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(Server::Impl& s, tcp::socket socket, Slot slot, std::string peer)
      : s_(s), stream_(std::move(socket)), slot_(std::move(slot)), peer_(std::move(peer)), client_(peer_) {}
  void start() { read(); }

 private:
  // A request's header and body must arrive within GATEWAY_REQUEST_TIMEOUT of its first byte
  // (a client that trickles it is closed: "slow headers"); a kept-alive connection may wait
  // GATEWAY_IDLE_TIMEOUT for its next request; the first request has no idle time.
  void read() {
    parser_.emplace();
    parser_->header_limit(std::uint32_t{16} * 1024);
    parser_->body_limit(std::uint64_t{16} * 1024);
    if (buffer_.size() > 0) return read_request();
    stream_.expires_after(served_ ? s_.o.idle_timeout : s_.o.request_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec == beast::error::timeout) self->s_.request_timeouts.inc();
      if (ec) return self->close();
      self->buffer_.commit(n);
      self->read_request();
    });
  }
  void read_request() {
    // The request line's start, for the error shape of a request that fails to parse.
    const auto data = buffer_.data();
    start_.assign(static_cast<const char*>(data.data()), std::min<std::size_t>(data.size(), 64));
    stream_.expires_after(s_.o.request_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  using Reply = http::response<http::string_body>;

  // The request that failed to parse was for a /binance path (a header over the limit is never
  // parsed: its request line as it came).
  [[nodiscard]] bool binance_path() const {
    const auto space = start_.find(' ');
    return space != std::string::npos && std::string_view(start_).substr(space + 1).starts_with("/binance/");
  }

  void on_read(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      s_.request_timeouts.inc();
      return close();
    }
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof)
      return close();
    if (ec) {  // malformed, or a header or body over the limit
      const bool binance = binance_path();
      request_ = {};
      auto why = std::string("bad request: ") + ec.message();
      return respond(binance ? binance_error(400, -1100, why) : native_error(400, why), false);
    }
    served_ = true;
    request_ = parser_->release();
    s_.requests.inc();
    const std::string_view target(request_.target().data(), request_.target().size());
    auto parsed =
        parse_target(std::string_view(request_.method_string().data(), request_.method_string().size()), target);
    const bool binance = target.starts_with("/binance/");
    if (!parsed) {
      constexpr std::string_view why = "bad request target (a %-escape or NUL)";
      return respond(binance ? binance_error(400, -1100, why) : native_error(400, why), request_.keep_alive());
    }
    if (!s_.o.trusted_proxies.empty()) {
      const auto forwarded = request_["X-Forwarded-For"];
      client_ = client_address(peer_, std::string_view(forwarded.data(), forwarded.size()), s_.o.trusted_proxies);
    }

    if (request_.method() == http::verb::options)
      return respond({204, "", "text/plain", preflight_headers()}, request_.keep_alive());
    if (request_.method() != http::verb::get)
      return respond(native_error(405, "only GET is served"), request_.keep_alive());
    if (!s_.allow(client_)) {
      s_.rate_limited.inc();
      auto r = binance ? binance_error(429, -1003, "Too many requests; the gateway's per-client limit.")
                       : native_error(429, "too many requests from this client; retry after 1 s");
      r.headers.emplace_back("Retry-After", "1");
      return respond(std::move(r), request_.keep_alive());
    }
    const auto weight = s_.weights.charge(client_, request_weight(*parsed), s_.o.clock(), wall_clock_ms());
    used_weight_ = weight.used;
    if (weight.status != 200) return refuse(weight, binance);
    if (websocket::is_upgrade(request_) || parsed->path == "/v1/stream") {
      if (!parsed->duplicate.empty())
        return respond(
            native_error(400, "parameter '" + parsed->duplicate + "' given more than once", parsed->duplicate), false);
      // A stream through a trusted proxy counts against its client's address.
      if (client_ != peer_ && !slot_.rebind(client_)) {
        s_.refused_per_address.inc();
        auto r = native_error(429, "too many connections from this address (GATEWAY_MAX_CONNECTIONS_PER_ADDRESS)");
        r.headers.emplace_back("Retry-After", "1");
        return respond(std::move(r), false);
      }
      if (websocket::is_upgrade(request_)) return upgrade(*parsed);
      return stream(*parsed);
    }
    if (is_browser_path(parsed->path)) return browse(std::move(*parsed));
    if (is_heavy(*parsed)) return on_worker(s_.heavy_worker, std::move(*parsed), nullptr);

    if (auto api =
            handle_api(*parsed, {s_.store, wall_clock_ms(), s_.history != nullptr, nullptr, s_.trades, s_.books})) {
      if (api->needs_history) return on_worker(*s_.history_worker, std::move(*parsed), s_.history.get());
      return respond(std::move(*api), request_.keep_alive());
    }
    const auto file = s_.o.files.find(parsed->path == "/" ? "/index.html" : parsed->path);
    if (file != s_.o.files.end()) {
      Response r{200, file->second.body, file->second.content_type};
      r.headers.emplace_back("Cache-Control",
                             parsed->path == "/" || parsed->path == "/index.html" ? "no-cache" : "max-age=3600");
      return respond(std::move(r), request_.keep_alive());
    }
    respond(native_error(404, "not found: " + parsed->path), request_.keep_alive());
  }

  // Past the address's request weight: 429 until the next minute; 418 (banned) for a client that
  // kept calling after its 429s. Binance's shapes on its paths.
  void refuse(const WeightLimiter::Decision& d, bool binance) {
    const auto limit = std::to_string(s_.weights.options().per_minute);
    Response r;
    if (d.status == 418) {
      s_.banned.inc();
      r = binance
              ? binance_error(418, -1003,
                              "Way too much request weight used; IP banned until " + std::to_string(d.banned_until_ms) +
                                  ". Please use WebSocket Streams for live updates to avoid bans.")
              : native_error(418, "banned until " + std::to_string(d.banned_until_ms) +
                                      " (ms): requests went on after 429 answers");
    } else {
      s_.weight_limited.inc();
      r = binance ? binance_error(429, -1003,
                                  "Too much request weight used; current limit is " + limit +
                                      " request weight per 1 MINUTE. Please use WebSocket Streams for live updates "
                                      "to avoid polling the API.")
                  : native_error(429, "request weight over " + limit + " per minute; retry after the Retry-After");
    }
    r.headers.emplace_back("Retry-After", std::to_string(d.retry_after_s));
    respond(std::move(r), request_.keep_alive());
  }
  std::vector<std::pair<std::string, std::string>> preflight_headers() const {
    if (s_.o.cors_origin.empty()) return {};
    return {{"Access-Control-Allow-Methods", "GET, OPTIONS"},
            {"Access-Control-Allow-Headers", "Content-Type, Last-Event-ID"},
            {"Access-Control-Max-Age", "600"}};
  }

  void respond(Response r, bool keep_alive) {
    auto reply =
        std::make_shared<Reply>(static_cast<http::status>(r.status), request_.version() ? request_.version() : 11);
    reply->set(http::field::server, "cryptoflow-gateway");
    reply->set(http::field::content_type, r.content_type);
    if (!s_.o.cors_origin.empty()) reply->set(http::field::access_control_allow_origin, s_.o.cors_origin);
    for (const auto& [name, value] : r.headers) reply->set(name, value);
    if (s_.o.weight_per_minute > 0) reply->set("X-MBX-USED-WEIGHT-1M", std::to_string(used_weight_));
    reply->keep_alive(keep_alive);
    reply->body() = std::move(r.body);
    reply->prepare_payload();
    http::async_write(stream_, *reply, [self = shared_from_this(), reply](beast::error_code ec, std::size_t) {
      if (ec || !reply->keep_alive()) return self->close();
      self->read();
    });
  }

  // The topic browser's calls block on the cluster: they run on the browser's worker, and the
  // answer comes back to this thread.
  void browse(Request r) {
    const bool keep = request_.keep_alive();
    if (!s_.browser) return respond(native_error(404, "the topic browser is not enabled"), keep);
    auto& ioc = s_.ioc;
    const bool queued = s_.browser->submit(std::move(r), [self = shared_from_this(), keep, &ioc](Response answer) {
      asio::post(ioc, [self, keep, answer = std::move(answer)]() mutable { self->respond(std::move(answer), keep); });
    });
    if (!queued) {
      auto busy = native_error(503, "the topic browser is busy; retry shortly");
      busy.headers.emplace_back("Retry-After", "1");
      respond(std::move(busy), keep);
    }
  }

  // Answered on a worker's thread: a candle range older than the store holds (history: the
  // InfluxDB reader), or a call whose cost grows with the symbols held (ticker/24hr of all).
  void on_worker(Worker& worker, Request r, CandleHistory* history) {
    const bool keep = request_.keep_alive();
    auto& s = s_;
    const bool queued = worker.submit([self = shared_from_this(), keep, r = std::move(r), &s, history] {
      auto answer = handle_api(r, {s.store, wall_clock_ms(), s.history != nullptr, history, s.trades, s.books});
      if (answer->needs_history) answer = native_error(503, "older candles are not available here; retry");
      if (history != nullptr) {
        s.history_queries.inc();
        if (std::any_of(answer->headers.begin(), answer->headers.end(),
                        [](const auto& h) { return h.first == "Warning"; }))
          s.history_failures.inc();
      }
      asio::post(s.ioc, [self, keep, a = std::move(*answer)]() mutable { self->respond(std::move(a), keep); });
    });
    if (!queued) {
      auto busy = native_error(503, "the gateway is busy with such calls for other clients; retry shortly");
      busy.headers.emplace_back("Retry-After", "1");
      respond(std::move(busy), keep);
    }
  }

  void stream(const Request& r) {
    Filter f;
    if (auto bad = filter_from(r, f)) return respond(native_error(400, "bad " + *bad, *bad), false);
    if (f.symbols.size() > s_.o.max_subscriptions)
      return respond(native_error(400, "too many symbols", "symbols"), false);
    std::string last_id(request_["Last-Event-ID"]);
    if (last_id.empty()) last_id = detail::param(r, "lastEventId");
    stream_.expires_never();
    std::make_shared<SseSession>(s_, std::move(stream_), std::move(slot_), std::move(f))
        ->start(last_id, request_.find(http::field::origin) != request_.end());
  }

  // "a/b/c" -> {"a", "b", "c"} (Binance separates streams with "/").
  static std::vector<std::string> split_streams(std::string_view v) {
    std::vector<std::string> out;
    while (!v.empty()) {
      const auto slash = v.find('/');
      if (slash != 0) out.emplace_back(v.substr(0, slash));
      if (slash == std::string_view::npos) break;
      v.remove_prefix(slash + 1);
    }
    return out;
  }

  void upgrade(const Request& r) {
    using Mode = WsSession::Mode;
    Mode mode = Mode::native;
    std::vector<std::string> names;
    Filter filter;
    if (r.path == "/binance/ws" || r.path.starts_with("/binance/ws/")) {
      mode = Mode::binance_raw;
      names = split_streams(std::string_view(r.path).substr(11));
    } else if (r.path == "/binance/stream") {
      mode = Mode::binance_combined;
      names = split_streams(detail::param(r, "streams"));
    } else if (r.path == "/v1/ws") {
      if (auto why = filter_from(r, filter)) return respond(native_error(400, "bad " + *why, *why), false);
    } else {
      return respond(native_error(404, "no WebSocket at " + r.path), false);
    }
    // As at Binance, a name in the URL that is no stream is taken and sends nothing (ccxt opens
    // /ws/0 and subscribes with SUBSCRIBE); one with bytes no name has is refused.
    for (const auto& n : names)
      for (const char c : n)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
          return respond(native_error(400, "a stream name is printable ASCII", "streams"), false);
    if (names.size() > s_.o.max_subscriptions)
      return respond(native_error(400, "more than " + std::to_string(s_.o.max_subscriptions) + " streams", "streams"),
                     false);
    stream_.expires_never();
    auto ws = std::make_shared<WsSession>(s_, std::move(stream_), std::move(slot_), mode);
    ws->add_streams(names);
    ws->set_filter(std::move(filter));
    ws->start(std::move(request_));
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  Server::Impl& s_;
  beast::tcp_stream stream_;
  Slot slot_;
  std::string peer_;     // the TCP peer's address
  std::string client_;   // who the request is from (the peer, or X-Forwarded-For from a trusted proxy)
  bool served_ = false;  // a request was read: the next may wait GATEWAY_IDLE_TIMEOUT
  std::string start_;    // the first bytes of the request being read
  std::int64_t used_weight_ = 0;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
};

}  // namespace

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
      if (candles && !candles->empty())
        hub.broadcast(binance_event(it->first, binance_kline_event(candles->back(), ctx.now_ms)));
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
      std::make_shared<HttpSession>(*this, std::move(socket), Slot(*this, proxy ? std::string() : address), address)
          ->start();
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
