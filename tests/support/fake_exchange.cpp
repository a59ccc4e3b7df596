#include "fake_exchange.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace cryptoflow::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using beast::error_code;

std::string query_param(const std::string& target, const std::string& name) {
  const auto q = target.find('?');
  if (q == std::string::npos) return {};
  std::stringstream ss(target.substr(q + 1));
  for (std::string kv; std::getline(ss, kv, '&');)
    if (kv.rfind(name + "=", 0) == 0) return kv.substr(name.size() + 1);
  return {};
}

std::string rest_json(const std::vector<Trade>& trades, bool agg) {
  std::string out = "[";
  for (const auto& t : trades) {
    if (out.size() > 1) out += ',';
    if (agg) {
      out += "{\"a\":" + std::to_string(t.trade_id) + ",\"p\":\"" + t.price.to_string() + "\",\"q\":\"" +
             t.quantity.to_string() + "\",\"f\":" + std::to_string(t.first_trade_id.value_or(t.trade_id)) +
             ",\"l\":" + std::to_string(t.last_trade_id.value_or(t.trade_id)) +
             ",\"T\":" + std::to_string(t.trade_time) + ",\"m\":" + (t.buyer_is_maker ? "true" : "false") +
             ",\"M\":true}";
    } else {
      out += "{\"id\":" + std::to_string(t.trade_id) + ",\"price\":\"" + t.price.to_string() + "\",\"qty\":\"" +
             t.quantity.to_string() + "\",\"quoteQty\":\"0\",\"time\":" + std::to_string(t.trade_time) +
             ",\"isBuyerMaker\":" + (t.buyer_is_maker ? "true" : "false") + ",\"isBestMatch\":true}";
    }
  }
  return out + "]";
}

}  // namespace

struct FakeExchange::Impl {
  explicit Impl(FakeExchange& exchange)
      : ex(exchange), tls(asio::ssl::context::tls_server), acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0}) {
    if (ex.options_.tls) {
      tls.use_certificate_chain_file(ex.cert_path_);
      tls.use_private_key_file(ex.key_path_, asio::ssl::context::pem);
    }
    port = acceptor.local_endpoint().port();
    accept();
    thread = std::thread([this] { ioc.run(); });
  }
  ~Impl() {
    ioc.stop();
    thread.join();
  }

  std::size_t cursor() const {
    std::lock_guard lock(timeline_mu);
    return cursor_locked();
  }
  std::size_t cursor_locked() const {
    if (!started) return 0;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    const auto at = base + static_cast<std::size_t>(static_cast<double>(ms) * fps / 1000);
    return std::min({ex.options_.frames.size(), hold, at});
  }
  void release(std::size_t until, double frames_per_second) {
    std::lock_guard lock(timeline_mu);
    base = cursor_locked();
    start = std::chrono::steady_clock::now();
    hold = until;
    fps = frames_per_second;
  }

  void accept() {
    acceptor.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec) return;
      {
        std::lock_guard lock(ex.mu_);
        ex.accepts_.push_back(std::chrono::steady_clock::now());
      }
      if (refused < ex.options_.refuse_first) {
        ++refused;
        error_code ignored;
        socket.close(ignored);
      } else if (ex.options_.tls) {
        std::make_shared<Session<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>>(*this, std::move(socket),
                                                                                           tls)
            ->run();
      } else {
        std::make_shared<Session<websocket::stream<beast::tcp_stream>>>(*this, std::move(socket))->run();
      }
      accept();
    });
  }

  template <class Ws>
  struct Session : std::enable_shared_from_this<Session<Ws>> {
    struct Out {
      std::string data;
      bool binary = false, ping = false;
    };
    template <class... A>
    Session(Impl& owner, tcp::socket socket, A&... a)
        : impl(owner), ws(std::move(socket), a...), timer(impl.ioc), first(impl.ex.sessions_.fetch_add(1) == 0) {}

    void run() {
      if constexpr (std::is_same_v<Ws, websocket::stream<beast::ssl_stream<beast::tcp_stream>>>) {
        ws.next_layer().async_handshake(asio::ssl::stream_base::server,
                                        [self = this->shared_from_this()](error_code ec) {
                                          if (!ec) self->read_request();
                                        });
      } else {
        read_request();
      }
    }
    void read_request() {
      http::async_read(ws.next_layer(), buffer, request, [self = this->shared_from_this()](error_code ec, std::size_t) {
        if (ec) return;
        self->accept_ws();
      });
    }
    void accept_ws() {
      {
        std::lock_guard lock(impl.ex.mu_);
        impl.ex.targets_.emplace_back(request.target());
      }
      ws.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
        if (kind != websocket::frame_type::pong) return;
        std::lock_guard lock(impl.ex.mu_);
        impl.ex.pongs_.emplace_back(payload);
      });
      ws.async_accept(request, [self = this->shared_from_this()](error_code ec) {
        if (ec) return;
        {
          std::lock_guard lock(self->impl.timeline_mu);
          if (!self->impl.started) {
            self->impl.start = std::chrono::steady_clock::now();
            self->impl.started = true;
          }
        }
        self->pos = self->impl.cursor();
        self->last_ping = std::chrono::steady_clock::now();
        self->read();
        self->tick();
      });
    }
    void read() {
      ws.async_read(in, [self = this->shared_from_this()](error_code ec, std::size_t) {
        if (ec) {
          self->dead = true;
          return;
        }
        self->in.consume(self->in.size());
        self->read();
      });
    }
    void tick() {
      if (dead) return;
      const auto& frames = impl.ex.options_.frames;
      for (const auto end = impl.cursor(); pos < end; ++pos) {
        if (first && impl.ex.options_.drop_after && sent >= *impl.ex.options_.drop_after) {
          dead = true;  // the connection dies without a close frame
          error_code ignored;
          beast::get_lowest_layer(ws).socket().close(ignored);
          return;
        }
        const auto& f = frames[pos];
        const std::string marker = kBinaryMarker;
        if (f.rfind(marker, 0) == 0) {
          queue.push_back({f.substr(marker.size()), true, false});
        } else {
          queue.push_back({f, false, false});
        }
        ++sent;
      }
      const auto every = impl.ex.options_.ping_every;
      if (every.count() > 0 && std::chrono::steady_clock::now() - last_ping >= every) {
        last_ping = std::chrono::steady_clock::now();
        const auto payload = "ping-" + std::to_string(++pings);
        {
          std::lock_guard lock(impl.ex.mu_);
          impl.ex.pings_.push_back(payload);
        }
        queue.push_back({payload, false, true});
      }
      write();
      timer.expires_after(std::chrono::milliseconds(2));
      timer.async_wait([self = this->shared_from_this()](error_code ec) {
        if (!ec) self->tick();
      });
    }
    void write() {
      if (writing || queue.empty() || dead) return;
      writing = true;
      auto done = [self = this->shared_from_this()](error_code ec, std::size_t = 0) {
        self->writing = false;
        if (ec) {
          self->dead = true;
          return;
        }
        self->queue.pop_front();
        self->write();
      };
      const auto& o = queue.front();
      if (o.ping) {
        ws.async_ping(websocket::ping_data(o.data.c_str()), [done](error_code ec) { done(ec); });
      } else {
        ws.binary(o.binary);
        ws.async_write(asio::buffer(o.data), done);
      }
    }

    Impl& impl;
    Ws ws;
    asio::steady_timer timer;
    beast::flat_buffer buffer, in;
    http::request<http::string_body> request;
    std::deque<Out> queue;
    std::size_t pos = 0, sent = 0;
    bool first = false, writing = false, dead = false;
    int pings = 0;
    std::chrono::steady_clock::time_point last_ping;
  };

  FakeExchange& ex;
  asio::io_context ioc;
  asio::ssl::context tls;
  tcp::acceptor acceptor;
  unsigned short port = 0;
  int refused = 0;
  // The timeline: frame base at start, then fps frames a second, never past hold.
  mutable std::mutex timeline_mu;
  bool started = false;  // the timeline starts with the first WebSocket session
  std::chrono::steady_clock::time_point start;
  std::size_t base = 0;
  std::size_t hold = ex.options_.hold_at;
  double fps = ex.options_.frames_per_second;
  std::thread thread;
};

FakeExchange::FakeExchange(FakeExchangeOptions options) : options_(std::move(options)) {
  if (options_.tls) {
    cert_path_ = (dir_.path() / "cert.pem").string();
    key_path_ = (dir_.path() / "key.pem").string();
    const auto r = run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key_path_, "-out", cert_path_, "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"});
    if (r.code != 0) throw std::runtime_error("openssl req failed: " + r.output);
  }
  rest_ = std::make_unique<HttpStandIn>([this](const HttpRequest& req) {
    const auto& api = options_.rest_api;
    const bool agg = req.target.rfind(api + "/aggTrades", 0) == 0;
    const bool depth = req.target.rfind(api + "/depth?", 0) == 0 && options_.depth;
    if (!agg && !depth && req.target.rfind(api + "/historicalTrades", 0) != 0) return HttpReply{404, "{}", {}};
    if (options_.rest_status != 200 && (options_.rest_failures < 0 || rest_calls_++ < options_.rest_failures)) {
      std::map<std::string, std::string> headers;
      if (!options_.rest_retry_after.empty()) headers["Retry-After"] = options_.rest_retry_after;
      return HttpReply{options_.rest_status, "", headers};
    }
    if (depth)
      return HttpReply{200,
                       options_.depth(query_param(req.target, "symbol"), impl_->cursor()),
                       {{"Content-Type", "application/json"}}};
    const auto from = std::stoll(query_param(req.target, "fromId"));
    const auto limit = std::min<long long>(1000, std::stoll(query_param(req.target, "limit")));
    std::vector<Trade> page;
    for (const auto& t : options_.rest_trades)
      if (t.trade_id >= from && static_cast<long long>(page.size()) < limit) page.push_back(t);
    return HttpReply{200, rest_json(page, agg), {{"Content-Type", "application/json"}}};
  });
  impl_ = std::make_unique<Impl>(*this);
}

FakeExchange::~FakeExchange() = default;

std::string FakeExchange::ws_url() const {
  return (options_.tls ? "wss://localhost:" : "ws://127.0.0.1:") + std::to_string(impl_->port);
}

void FakeExchange::release(std::size_t until, double frames_per_second) {
  impl_->release(until, frames_per_second);
}

bool FakeExchange::finished() const {
  return impl_->cursor() >= options_.frames.size();
}

std::vector<std::chrono::steady_clock::time_point> FakeExchange::tcp_accepts() const {
  std::lock_guard lock(mu_);
  return accepts_;
}
std::vector<std::string> FakeExchange::targets() const {
  std::lock_guard lock(mu_);
  return targets_;
}
std::vector<std::string> FakeExchange::pings_sent() const {
  std::lock_guard lock(mu_);
  return pings_;
}
std::vector<std::string> FakeExchange::pongs_received() const {
  std::lock_guard lock(mu_);
  return pongs_;
}

}  // namespace cryptoflow::test
