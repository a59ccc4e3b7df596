#include "ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace cryptoflow::binance {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using beast::error_code;

using PlainStream = websocket::stream<beast::tcp_stream>;
using TlsStream = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

template <class Stream>
class Session : public WsConnection, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(asio::io_context& ioc, Url url, WsOptions options, WsHandlers handlers, Args&&... stream_args)
      : resolver_(ioc),
        ws_(std::forward<Args>(stream_args)...),
        url_(std::move(url)),
        options_(options),
        handlers_(std::move(handlers)) {}

  void start() override {
    resolver_.async_resolve(url_.host, url_.port, [self = this->shared_from_this()](error_code ec, auto results) {
      if (ec) return self->fail("resolve " + self->url_.host, ec);
      beast::get_lowest_layer(self->ws_).expires_after(self->options_.handshake_timeout);
      beast::get_lowest_layer(self->ws_).async_connect(
          results, [self](error_code e, const tcp::endpoint&) { self->on_connect(e); });
    });
  }

  void close() override {
    if (done_) return;
    done_ = true;
    if (open_) {
      ws_.async_close(websocket::close_code::normal, [self = this->shared_from_this()](error_code) {});
    } else {
      error_code ignored;
      beast::get_lowest_layer(ws_).socket().close(ignored);
    }
  }

 private:
  void on_connect(error_code ec) {
    if (ec) return fail("connect " + url_.authority(), ec);
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      auto& tls = ws_.next_layer();
      // SNI (SSL_set_tlsext_host_name without its C cast); RFC 6066 allows no IP address there.
      error_code not_ip;
      (void)asio::ip::make_address(url_.host, not_ip);
      if (not_ip && !SSL_ctrl(tls.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                              const_cast<char*>(url_.host.c_str())))
        return fail("TLS SNI", error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()));
      tls.set_verify_mode(asio::ssl::verify_peer);
      tls.set_verify_callback(asio::ssl::host_name_verification(url_.host));
      tls.async_handshake(asio::ssl::stream_base::client, [self = this->shared_from_this()](error_code e) {
        self->on_transport_ready(e, "TLS handshake");
      });
    } else {
      on_transport_ready(ec, "connect");
    }
  }

  void on_transport_ready(error_code ec, const char* what) {
    if (ec) return fail(what, ec);
    beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts take over
    websocket::stream_base::timeout t{};
    t.handshake_timeout = options_.handshake_timeout;
    t.idle_timeout = options_.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(options_.max_message);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
      if (kind == websocket::frame_type::ping && handlers_.ping)
        handlers_.ping(std::string_view(payload.data(), payload.size()));
    });
    ws_.async_handshake(url_.authority(), url_.target,
                        [self = this->shared_from_this()](error_code e) { self->on_handshake(e); });
  }

  void on_handshake(error_code ec) {
    if (ec) return fail("WebSocket handshake", ec);
    open_ = true;
    if (done_) {  // closed while connecting
      ws_.async_close(websocket::close_code::normal, [self = this->shared_from_this()](error_code) {});
      return;
    }
    if (handlers_.opened) handlers_.opened();
    read();
  }

  void read() {
    ws_.async_read(buffer_, [self = this->shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->fail("read", ec);
      if (self->done_) return;
      const auto data = self->buffer_.cdata();
      self->handlers_.message(std::string_view(static_cast<const char*>(data.data()), data.size()),
                              !self->ws_.got_text());
      self->buffer_.consume(self->buffer_.size());
      if (!self->done_) self->read();
    });
  }

  void fail(const std::string& what, error_code ec) {
    if (done_) return;
    done_ = true;
    std::string reason = what + ": " + ec.message();
    if (ec == websocket::error::closed) reason += " (" + std::string(ws_.reason().reason.c_str()) + ")";
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    if (handlers_.closed) handlers_.closed(reason);
  }

  tcp::resolver resolver_;
  Stream ws_;
  Url url_;
  WsOptions options_;
  WsHandlers handlers_;
  beast::flat_buffer buffer_;
  bool open_ = false;
  bool done_ = false;
};

}  // namespace

asio::ssl::context make_client_tls_context() {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_default_verify_paths();
  ctx.set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

std::shared_ptr<WsConnection> make_ws_connection(asio::io_context& ioc, asio::ssl::context& tls, const Url& url,
                                                 WsOptions options, WsHandlers handlers) {
  if (url.secure()) return std::make_shared<Session<TlsStream>>(ioc, url, options, std::move(handlers), ioc, tls);
  return std::make_shared<Session<PlainStream>>(ioc, url, options, std::move(handlers), ioc);
}

}  // namespace cryptoflow::binance
