// The WebSockets: /binance/ws[/<streams>], /binance/stream?streams=... (Binance's protocol,
// binance_ws.hpp) and /v1/ws (the native one).
#include <rapidjson/document.h>

#include <boost/beast/websocket.hpp>
#include <functional>

#include "api.hpp"
#include "api_detail.hpp"
#include "binance_ws.hpp"
#include "session.hpp"

namespace cryptoflow::gateway {

namespace {

namespace websocket = beast::websocket;

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

// Binance ends a WebSocket connection after 24 hours.
constexpr auto kBinanceConnectionLifetime = std::chrono::hours(24);

// ---- WebSocket: /binance/ws[/<streams>], /binance/stream?streams=..., /v1/ws ----
class WsSession final : public Subscriber, public Streaming<WsSession>, public std::enable_shared_from_this<WsSession> {
 public:
  // binance: the connection speaks Binance's protocol (its streams, raw or combined); none: the
  // native one (/v1/ws, filter).
  WsSession(Server::Impl& s, beast::tcp_stream stream, Slot slot, std::unique_ptr<BinanceSubscriptions> binance,
            Filter filter)
      : Streaming(s, "WebSocket"),
        ws_(std::move(stream)),
        slot_(std::move(slot)),
        binance_(std::move(binance)),
        filter_(std::move(filter)) {}
  ~WsSession() override {
    s_.streaming.add(-1);
    s_.hub.unsubscribe(subscription_);
  }
  WsSession(const WsSession&) = delete;
  WsSession& operator=(const WsSession&) = delete;

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
      if (self->binance_) {  // Binance ends every connection after 24 hours
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
    if (!binance_) {
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
    if (!binance_->has(name)) return;
    if (!e->binance_payload)
      e->binance_payload = std::make_shared<const std::string>(binance_kline_event(*e->candle, e->time_ms));
    if (binance_->combined())
      send(std::make_shared<const std::string>(combined_frame(name, *e->binance_payload)));
    else
      send(e->binance_payload);
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
    if (binance_) return send(std::make_shared<const std::string>(binance_->on_message(text)));
    rapidjson::Document d;
    d.Parse(text.data(), text.size());
    if (d.HasParseError() || !d.IsObject()) d.SetObject();  // answered: 'op' is required
    on_native_message(d);
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
  std::unique_ptr<BinanceSubscriptions> binance_;
  Filter filter_;
  asio::steady_timer lifetime_{ws_.get_executor()};
  bool subscribed_ = true;
  beast::flat_buffer in_;
  std::uint64_t subscription_ = 0;
  std::string reason_;
};

}  // namespace

void start_websocket(Server::Impl& s, beast::tcp_stream stream, Slot slot, WebSocketStart what,
                     http::request<http::string_body> upgrade) {
  std::unique_ptr<BinanceSubscriptions> binance;
  if (what.session != Session::native_ws) {
    binance = std::make_unique<BinanceSubscriptions>(s.o.max_subscriptions, what.session == Session::binance_stream,
                                                     [&s](const std::string& name, bool on) { s.want(name, on); });
    binance->add(what.names);
  }
  std::make_shared<WsSession>(s, std::move(stream), std::move(slot), std::move(binance), std::move(what.filter))
      ->start(std::move(upgrade));
}

}  // namespace cryptoflow::gateway
