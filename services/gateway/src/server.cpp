#include "server.hpp"

#include <rapidjson/document.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "api.hpp"
#include "api_detail.hpp"
#include "cryptoflow/clock.hpp"
#include "cryptoflow/log.hpp"

namespace cryptoflow::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct Server::Impl {
  Impl(ServerOptions options, const MarketStore& store, MetricsRegistry& metrics, std::shared_ptr<TopicBrowser> browser,
       std::unique_ptr<CandleHistory> history);

  ServerOptions o;
  const MarketStore& store;
  std::shared_ptr<TopicBrowser> browser;
  std::unique_ptr<CandleHistory> history;
  std::unique_ptr<Worker> history_worker;  // its thread queries the history
  Hub hub;
  std::size_t connections = 0;
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Bucket> buckets;
  Counter& requests;
  Counter& rate_limited;
  Counter& refused;
  Counter& dropped;
  Counter& history_queries;
  Counter& history_failures;
  Gauge& open_connections;
  Gauge& streaming;
  // Last: destroyed first, with the handlers it holds (sessions), while the above still exist.
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;

  void accept();
  bool allow(const std::string& client);
};

namespace {

// One connection counted from accept to close, whichever session holds it.
class Slot {
 public:
  explicit Slot(Server::Impl& s) : s_(&s) {
    ++s.connections;
    s.open_connections.set(static_cast<double>(s.connections));
  }
  Slot(Slot&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  Slot& operator=(Slot&&) = delete;
  ~Slot() {
    if (s_ == nullptr) return;
    --s_->connections;
    s_->open_connections.set(static_cast<double>(s_->connections));
  }

 private:
  Server::Impl* s_;
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

// What a streaming session (SSE, WebSocket) sends: queued in order, one write at a time; a
// client further behind than GATEWAY_CLIENT_BUFFER is dropped. Session provides write(text,
// handler) and close() (which sets closed_).
template <class Session>
class Streaming {
 public:
  Streaming(Server::Impl& s, const char* what) : s_(s), out_(s.o.client_buffer_bytes), what_(what) {}

 protected:
  void send(Message m) {
    if (closed_) return;
    if (!out_.push(std::move(m))) {
      s_.dropped.inc();
      log_warn(std::string("gateway: a slow ") + what_ + " client is dropped",
               {{"buffer_bytes", s_.o.client_buffer_bytes}});
      self().close();
      return;
    }
    if (!writing_) write_next();
  }

  Server::Impl& s_;
  Outbox out_;
  bool closed_ = false;

 private:
  Session& self() { return static_cast<Session&>(*this); }
  void write_next() {
    if (out_.empty() || closed_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    self().write(*out_.front(), [session = self().shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return session->close();
      session->out_.pop();
      session->write_next();
    });
  }

  const char* what_;
  bool writing_ = false;
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
  for (const auto& i : detail::csv(detail::param(r, "intervals").empty() ? detail::param(r, "interval")
                                                                         : detail::param(r, "intervals"))) {
    if (interval_ms(i) == 0) return "interval";
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

// What a client that starts without a resumable id gets first: the current state it filters.
std::vector<std::pair<std::string_view, std::string>> snapshot(const MarketStore& store, const Filter& f) {
  std::vector<std::pair<std::string_view, std::string>> out;
  const auto wants = [&](EventKind k) { return f.kinds.empty() || f.kinds.contains(k); };
  for (const auto& symbol : store.symbols()) {
    if (!f.symbols.empty() && !f.symbols.contains(symbol)) continue;
    if (wants(EventKind::candle))
      for (const auto& interval : store.intervals(symbol))
        if (f.intervals.empty() || f.intervals.contains(interval))
          if (const auto c = store.last_candle(symbol, interval)) out.emplace_back("candle", to_json(*c));
    if (wants(EventKind::indicator))
      for (const auto& i : store.indicators(symbol)) out.emplace_back("indicator", to_json(i));
  }
  if (wants(EventKind::ticker))
    for (const auto& t : store.tickers("")) out.emplace_back("ticker", to_json(t));
  return out;
}

// ---- Server-Sent Events: /v1/stream ----
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
    send(std::make_shared<const std::string>(std::move(head)));
    const auto resumed = last_event_id.empty() ? std::nullopt : s_.hub.after(last_event_id);
    if (resumed) {
      for (const auto& e : *resumed) deliver(e);
    } else {
      Event marker;  // the snapshot is as of the last event published: a resume continues from there
      marker.seq = s_.hub.last_seq();
      const auto current_id = s_.hub.id_of(marker);
      for (const auto& [kind, json] : snapshot(s_.store, filter_))
        send(std::make_shared<const std::string>(sse_frame(current_id, kind, json)));
    }
    s_.hub.subscribe(weak_from_this());
    s_.streaming.add(1);
    watch();
    beat();
  }
  ~SseSession() override { s_.streaming.add(-1); }
  SseSession(const SseSession&) = delete;
  SseSession& operator=(const SseSession&) = delete;

  void deliver(const EventPtr& e) override {
    if (!closed_ && filter_.matches(*e))
      send(std::make_shared<const std::string>(sse_frame(s_.hub.id_of(*e), e->kind_name(), e->json)));
  }

 private:
  friend class Streaming<SseSession>;
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
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  Slot slot_;
  Filter filter_;
  asio::steady_timer heartbeat_;
  std::array<char, 256> probe_{};
};

// Binance streams served: <symbol lower case>@kline_<interval>; otherwise why not.
std::optional<std::string> check_stream(const std::string& name) {
  const auto at = name.find("@kline_");
  if (at == std::string::npos || at == 0) return "only <symbol>@kline_<interval> streams are served: " + name;
  if (interval_ms(name.substr(at + 7)) == 0) return "not a Binance interval: " + name;
  for (std::size_t i = 0; i < at; ++i)
    if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
      return "a stream's symbol is lower-case letters and digits: " + name;
  return std::nullopt;
}

// ---- WebSocket: /binance/ws[/<streams>], /binance/stream?streams=..., /v1/ws ----
class WsSession final : public Subscriber, public Streaming<WsSession>, public std::enable_shared_from_this<WsSession> {
 public:
  enum class Mode { binance_raw, binance_combined, native };

  WsSession(Server::Impl& s, beast::tcp_stream stream, Slot slot, Mode mode)
      : Streaming(s, "WebSocket"), ws_(std::move(stream)), slot_(std::move(slot)), mode_(mode) {}
  ~WsSession() override { s_.streaming.add(-1); }
  WsSession(const WsSession&) = delete;
  WsSession& operator=(const WsSession&) = delete;

  // Streams named in the URL (checked by the caller).
  void add_streams(const std::vector<std::string>& names) { streams_.insert(names.begin(), names.end()); }
  void set_filter(Filter f) { filter_ = std::move(f); }

  void start(http::request<http::string_body> request) {
    s_.streaming.add(1);
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(std::size_t{64} * 1024);
    upgrade_ = std::move(request);  // kept until the handshake is answered
    ws_.async_accept(upgrade_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->s_.hub.subscribe(self->weak_from_this());
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
    if (e->kind != EventKind::candle || !e->candle) return;
    const auto name = binance_stream_name(*e->candle);
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
        if (auto why = check_stream(n)) return binance_error(2, "Invalid request: " + *why, id);
      if (streams_.size() + names.size() > s_.o.max_subscriptions)
        return binance_error(2, "Invalid request: more than " + std::to_string(s_.o.max_subscriptions) + " streams",
                             id);
      streams_.insert(names.begin(), names.end());
    } else {
      for (const auto& n : names) streams_.erase(n);
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
  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  websocket::stream<beast::tcp_stream> ws_;
  http::request<http::string_body> upgrade_;
  Slot slot_;
  Mode mode_;
  std::set<std::string> streams_;
  Filter filter_;
  bool subscribed_ = true;
  beast::flat_buffer in_;
};

// ---- HTTP: requests on a kept-alive connection until it upgrades, streams, or closes ----
class HttpSession final : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(Server::Impl& s, tcp::socket socket, Slot slot)
      : s_(s), stream_(std::move(socket)), slot_(std::move(slot)) {
    beast::error_code ec;
    const auto remote = stream_.socket().remote_endpoint(ec);
    client_ = ec ? std::string("?") : remote.address().to_string();
  }
  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(std::uint32_t{16} * 1024);
    parser_->body_limit(std::uint64_t{16} * 1024);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  using Reply = http::response<http::string_body>;

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof)
      return close();
    if (ec) {  // malformed, or a header or body over the limit
      request_ = {};
      return respond(native_error(400, std::string("bad request: ") + ec.message()), false);
    }
    request_ = parser_->release();
    s_.requests.inc();
    const std::string_view target(request_.target().data(), request_.target().size());
    auto parsed =
        parse_target(std::string_view(request_.method_string().data(), request_.method_string().size()), target);
    if (!parsed) return respond(native_error(400, "bad request target (a %-escape or NUL)"), request_.keep_alive());
    const bool binance = parsed->path.starts_with("/binance/");

    if (request_.method() == http::verb::options)
      return respond({204, "", "text/plain", preflight_headers()}, request_.keep_alive());
    if (request_.method() != http::verb::get)
      return respond(native_error(405, "only GET is served"), request_.keep_alive());
    if (!s_.allow(client_)) {
      s_.rate_limited.inc();
      auto r = binance ? Response{429, R"({"code":-1003,"msg":"Too many requests; the gateway's per-client limit."})"}
                       : native_error(429, "too many requests from this client; retry after 1 s");
      r.headers.emplace_back("Retry-After", "1");
      return respond(std::move(r), request_.keep_alive());
    }
    if (websocket::is_upgrade(request_)) return upgrade(*parsed);
    if (parsed->path == "/v1/stream") return stream(*parsed);
    if (is_browser_path(parsed->path)) return browse(std::move(*parsed));

    if (auto api = handle_api(*parsed, {s_.store, wall_clock_ms(), s_.history != nullptr})) {
      if (api->needs_history) return from_history(std::move(*parsed));
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

  // A candle range older than the store holds: answered on the history's worker.
  void from_history(Request r) {
    const bool keep = request_.keep_alive();
    auto& s = s_;
    const bool queued = s_.history_worker->submit([self = shared_from_this(), keep, r = std::move(r), &s] {
      auto answer = handle_api(r, {s.store, wall_clock_ms(), true, s.history.get()});
      s.history_queries.inc();
      if (std::any_of(answer->headers.begin(), answer->headers.end(),
                      [](const auto& h) { return h.first == "Warning"; }))
        s.history_failures.inc();
      asio::post(s.ioc, [self, keep, a = std::move(*answer)]() mutable { self->respond(std::move(a), keep); });
    });
    if (!queued) {
      auto busy = native_error(503, "older candles are being read for other clients; retry shortly");
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
    // A stream that is not served is refused before the handshake, with a 400 a client can read.
    for (const auto& n : names)
      if (auto why = check_stream(n)) return respond(native_error(400, *why, "streams"), false);
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
  std::string client_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
};

}  // namespace

Server::Impl::Impl(ServerOptions options, const MarketStore& store_, MetricsRegistry& metrics,
                   std::shared_ptr<TopicBrowser> browser_, std::unique_ptr<CandleHistory> history_)
    : o(std::move(options)),
      store(store_),
      browser(std::move(browser_)),
      history(std::move(history_)),
      history_worker(history ? std::make_unique<Worker>(64) : nullptr),
      hub(static_cast<std::uint64_t>(wall_clock_ms()), o.events_kept),
      requests(metrics.counter("cryptoflow_gateway_requests_total",
                               "HTTP requests read (WebSocket and SSE handshakes included)")),
      rate_limited(
          metrics.counter("cryptoflow_gateway_rate_limited_total", "requests answered 429 (per-client limit)")),
      refused(metrics.counter("cryptoflow_gateway_refused_connections_total",
                              "connections closed at accept: GATEWAY_MAX_CONNECTIONS reached")),
      dropped(metrics.counter("cryptoflow_gateway_dropped_clients_total",
                              "WebSocket and SSE clients dropped for falling behind GATEWAY_CLIENT_BUFFER")),
      history_queries(metrics.counter("cryptoflow_gateway_history_queries_total",
                                      "candle requests that read older candles from InfluxDB (INFLUX_URL)")),
      history_failures(metrics.counter("cryptoflow_gateway_history_failures_total",
                                       "of those, InfluxDB did not answer: the held candles served, with a Warning")),
      open_connections(metrics.gauge("cryptoflow_gateway_connections", "open client connections")),
      streaming(metrics.gauge("cryptoflow_gateway_stream_clients", "open WebSocket and SSE clients")) {}

bool Server::Impl::allow(const std::string& client) {
  if (o.requests_per_second <= 0) return true;
  const auto now = std::chrono::steady_clock::now();
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
    if (!ec) {
      if (connections >= o.max_connections) {
        refused.inc();
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<HttpSession>(*this, std::move(socket), Slot(*this))->start();
      }
    }
    accept();
  });
}

Server::Server(ServerOptions options, const MarketStore& store, MetricsRegistry& metrics,
               std::shared_ptr<TopicBrowser> browser, std::unique_ptr<CandleHistory> history)
    : impl_(std::make_unique<Impl>(std::move(options), store, metrics, std::move(browser), std::move(history))) {
  auto& s = *impl_;
  const tcp::endpoint at(asio::ip::make_address(s.o.bind_address), static_cast<unsigned short>(s.o.port));
  s.acceptor.open(at.protocol());
  s.acceptor.set_option(asio::socket_base::reuse_address(true));
  beast::error_code ec;
  s.acceptor.bind(at, ec);
  if (ec) throw std::runtime_error("gateway: cannot listen on port " + std::to_string(s.o.port) + ": " + ec.message());
  s.acceptor.listen(asio::socket_base::max_listen_connections);
  s.accept();
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
  // Nothing posts to the I/O context after these.
  if (impl_->browser) impl_->browser->stop();
  if (impl_->history_worker) impl_->history_worker->stop();
  asio::post(impl_->ioc, [s = impl_.get()] {
    beast::error_code ignored;
    s->acceptor.close(ignored);
  });
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int Server::port() const {
  return impl_->acceptor.local_endpoint().port();
}

void Server::publish(Event event) {
  asio::post(impl_->ioc, [s = impl_.get(), e = std::move(event)]() mutable { s->hub.publish(std::move(e)); });
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
