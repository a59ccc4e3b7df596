// HTTP/1.1: requests on a kept-alive connection until it upgrades, streams, or closes. Each
// request is looked up in the route table (routes.hpp), which says what it opens and where it runs.
#include <boost/asio/post.hpp>
#include <boost/beast/websocket.hpp>

#include "api.hpp"
#include "api_detail.hpp"
#include "binance_ws.hpp"
#include "cryptoflow/runtime/clock.hpp"
#include "session.hpp"

namespace cryptoflow::gateway {

namespace {

namespace websocket = beast::websocket;

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
    if (!parsed) {
      constexpr std::string_view why = "bad request target (a %-escape or NUL)";
      return respond(target.starts_with("/binance/") ? binance_error(400, -1100, why) : native_error(400, why),
                     request_.keep_alive());
    }
    auto match = match_route(parsed->path);
    const auto dialect = match ? match->route->dialect : dialect_of(parsed->path);
    const bool binance = dialect == Dialect::binance;
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
    const auto weight =
        s_.weights.charge(client_, match ? route_weight(*match->route, *parsed) : 1, s_.o.clock(), wall_clock_ms());
    used_weight_ = weight.used;
    if (weight.status != 200) return refuse(weight, binance);
    const auto session = match ? match->route->session : Session::call;
    if (websocket::is_upgrade(request_) || session == Session::sse) {
      if (!parsed->duplicate.empty())
        return respond(
            native_error(400, "parameter '" + parsed->duplicate + "' given more than once", parsed->duplicate), false);
      if (session == Session::call) return respond(native_error(404, "no WebSocket at " + parsed->path), false);
      // A stream through a trusted proxy counts against its client's address.
      if (client_ != peer_ && !slot_.rebind(client_)) {
        s_.refused_per_address.inc();
        auto r = native_error(429, "too many connections from this address (GATEWAY_MAX_CONNECTIONS_PER_ADDRESS)");
        r.headers.emplace_back("Retry-After", "1");
        return respond(std::move(r), false);
      }
      if (session == Session::sse) return stream(*parsed);
      return upgrade(*parsed, session);
    }
    if (session != Session::call) {
      auto r = native_error(426, "a WebSocket: connect with Upgrade: websocket");
      r.headers.emplace_back("Upgrade", "websocket");
      return respond(std::move(r), request_.keep_alive());
    }
    if (!match) {
      if (dialect)
        return respond(parsed->duplicate.empty() ? not_found(*dialect, parsed->path)
                                                 : duplicate_parameter(*dialect, parsed->duplicate),
                       request_.keep_alive());
      return serve_file(parsed->path);
    }
    if (!parsed->duplicate.empty())
      return respond(duplicate_parameter(*dialect, parsed->duplicate), request_.keep_alive());
    parsed->params = std::move(match->params);
    const auto& route = *match->route;
    const ApiContext context{s_.store, wall_clock_ms(), s_.history != nullptr, nullptr, s_.trades, s_.books};
    switch (runs_on(route, *parsed, context)) {
      case Runs::browser: return browse(std::move(*parsed));
      case Runs::heavy: return on_worker(s_.heavy_worker, route, std::move(*parsed), nullptr);
      case Runs::history:
        if (s_.history_worker) return on_worker(*s_.history_worker, route, std::move(*parsed), s_.history.get());
        break;
      case Runs::io: break;
    }
    respond(route.handle(*parsed, context), request_.keep_alive());
  }

  void serve_file(const std::string& path) {
    const auto file = s_.o.files.find(path == "/" ? "/index.html" : path);
    if (file == s_.o.files.end()) return respond(native_error(404, "not found: " + path), request_.keep_alive());
    Response r{200, file->second.body, file->second.content_type};
    r.headers.emplace_back("Cache-Control", path == "/" || path == "/index.html" ? "no-cache" : "max-age=3600");
    respond(std::move(r), request_.keep_alive());
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
  void on_worker(Worker& worker, const Route& route, Request r, CandleHistory* history) {
    const bool keep = request_.keep_alive();
    auto& s = s_;
    const bool queued = worker.submit([self = shared_from_this(), keep, r = std::move(r), &s, &route, history] {
      auto answer = route.handle(r, {s.store, wall_clock_ms(), s.history != nullptr, history, s.trades, s.books});
      if (history != nullptr) {
        s.history_queries.inc();
        if (std::any_of(answer.headers.begin(), answer.headers.end(),
                        [](const auto& h) { return h.first == "Warning"; }))
          s.history_failures.inc();
      }
      asio::post(s.ioc, [self, keep, a = std::move(answer)]() mutable { self->respond(std::move(a), keep); });
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
    start_sse(s_, std::move(stream_), std::move(slot_), std::move(f), last_id,
              request_.find(http::field::origin) != request_.end());
  }

  void upgrade(const Request& r, Session session) {
    WebSocketStart what{session};
    if (session == Session::native_ws) {
      if (auto why = filter_from(r, what.filter)) return respond(native_error(400, "bad " + *why, *why), false);
    } else {
      const auto list = session == Session::binance_ws ? r.path.substr(11) : detail::param(r, "streams");
      auto names = url_streams(list, s_.o.max_subscriptions);
      if (auto* why = std::get_if<std::string>(&names)) return respond(native_error(400, *why, "streams"), false);
      what.names = std::move(std::get<0>(names));
    }
    stream_.expires_never();
    start_websocket(s_, std::move(stream_), std::move(slot_), std::move(what), std::move(request_));
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

void start_http(Server::Impl& s, tcp::socket socket, Slot slot, std::string peer) {
  std::make_shared<HttpSession>(s, std::move(socket), std::move(slot), std::move(peer))->start();
}

}  // namespace cryptoflow::gateway
