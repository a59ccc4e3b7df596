// The gateway's server in process, over real sockets: a WebSocket client that stops reading is
// dropped while the others keep up; the per-client request limit, the connection limit, CORS,
// and nothing served outside the page's files.
#include "gateway/src/server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "cryptoflow/net/http.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::gateway;
using cryptoflow::test::eventually;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

struct Ws {
  asio::io_context ioc;
  beast::websocket::stream<tcp::socket> ws{ioc};
  explicit Ws(int port, bool subscribe = false) {
    ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    ws.handshake("127.0.0.1", "/v1/ws");
    if (!subscribe) return;
    // The answer comes once the session takes events: none published after it is missed.
    ws.write(asio::buffer(std::string(R"({"op":"subscribe"})")));
    beast::flat_buffer b;
    ws.read(b);
    REQUIRE(beast::buffers_to_string(b.data()) == R"({"type":"subscribed"})");
  }
};

// Reads messages on a thread until the connection ends; stops it when the test ends however.
struct Reader {
  Ws& client;
  std::atomic<std::size_t> received{0};
  std::thread thread{[this] {
    for (;;) {
      beast::flat_buffer b;
      beast::error_code ec;
      client.ws.read(b, ec);
      if (ec) return;
      ++received;
    }
  }};
  explicit Reader(Ws& c) : client(c) {}
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() {
    beast::error_code ignored;
    client.ws.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    thread.join();
  }
};

ServerOptions on_loopback() {
  ServerOptions o;
  o.port = 0;  // any free port
  o.bind_address = "127.0.0.1";
  return o;
}

Event big_event(std::size_t bytes) {
  Event e;
  e.kind = EventKind::ticker;
  e.coin = "bitcoin";
  e.json = R"({"pad":")" + std::string(bytes, 'x') + R"("})";
  return e;
}

}  // namespace

TEST_CASE("server: a WebSocket client that stops reading is dropped - the others keep receiving everything") {
  MarketStore store;
  MetricsRegistry metrics;
  auto o = on_loopback();
  o.client_buffer_bytes = std::size_t{64} * 1024;
  Server server(o, store, metrics);
  Ws slow(server.port(), true);  // reads nothing from here on
  Ws fast(server.port(), true);
  Reader reader(fast);
  auto& dropped = metrics.counter("cryptoflow_gateway_dropped_clients_total", "");
  // Batches the fast client keeps up with, until the slow one's socket buffers and its 64 KiB
  // queue are full (loopback buffers take some megabytes first).
  std::size_t published = 0;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (dropped.value() == 0 && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 4; ++i, ++published) server.publish(big_event(10'000));
    while (reader.received < published && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  }
  REQUIRE(dropped.value() == 1);
  REQUIRE(eventually([&] { return reader.received == published; }, 30s));  // the fast client missed nothing
  CHECK(published * 10'000 > o.client_buffer_bytes);  // dropped for falling behind its buffer, not at once
  // The slow client finds its connection closed after what was already on its way.
  beast::error_code ec;
  std::size_t drained = 0;
  for (; !ec && drained <= published; ++drained) {
    beast::flat_buffer b;
    slow.ws.read(b, ec);
  }
  CHECK(ec);
  CHECK(drained <= published);
}

TEST_CASE(
    "server: the per-client limit answers 429 with Retry-After - the connection limit - CORS - no path outside the "
    "page") {
  MarketStore store;
  MetricsRegistry metrics;
  auto o = on_loopback();
  o.requests_per_second = 1;
  o.request_burst = 3;
  o.cors_origin = "https://dash.example";
  o.files["/index.html"] = {"text/html; charset=utf-8", "<html>page</html>"};
  std::atomic<std::int64_t> now_ms{0};  // the limits' clock stands still until the test moves it
  o.clock = [&] { return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms.load())); };
  Server server(o, store, metrics);
  const auto url = [&](const std::string& path) { return "http://127.0.0.1:" + std::to_string(server.port()) + path; };
  HttpClient http;
  auto page = http.get(url("/"));
  CHECK(page.status == 200);
  CHECK(page.body == "<html>page</html>");
  CHECK(page.headers["access-control-allow-origin"] == "https://dash.example");
  CHECK(http.get(url("/%2e%2e/%2e%2e/etc/passwd")).status == 404);  // decoded: not one of the page's files
  CHECK(http.get(url("/v1/symbols")).status == 200);                // the third: the burst's last
  auto limited = http.get(url("/v1/symbols"));                      // the fourth within a second
  CHECK(limited.status == 429);
  CHECK(limited.headers["retry-after"] == "1");
  CHECK(limited.body.find("too many requests") != std::string::npos);
  CHECK(metrics.counter("cryptoflow_gateway_rate_limited_total", "").value() == 1);
  now_ms += 999;
  CHECK(http.get(url("/v1/symbols")).status == 429);  // no whole token back yet
  now_ms += 1001;
  CHECK(http.get(url("/v1/symbols")).status == 200);  // a token back after a second
}

TEST_CASE("server: connections past GATEWAY_MAX_CONNECTIONS are answered 503 and closed at accept - counted") {
  MarketStore store;
  MetricsRegistry metrics;
  auto o = on_loopback();
  o.max_connections = 2;
  Server server(o, store, metrics);
  Ws a(server.port());
  Ws b(server.port());
  HttpClient third;
  const auto refused = third.get("http://127.0.0.1:" + std::to_string(server.port()) + "/v1/symbols");
  CHECK(refused.status == 503);
  CHECK(refused.headers.at("retry-after") == "1");
  CHECK(metrics.counter("cryptoflow_gateway_refused_connections_total", "").value() == 1);
}

TEST_CASE("server: bad targets are 400 in their path's shape - a WebSocket path without Upgrade is 426 - 404s") {
  MarketStore store;
  MetricsRegistry metrics;
  auto o = on_loopback();
  o.files["/index.html"] = {"text/html; charset=utf-8", "<html>page</html>"};
  Server server(o, store, metrics);
  const auto url = [&](const std::string& path) { return "http://127.0.0.1:" + std::to_string(server.port()) + path; };
  HttpClient http;
  const auto binance = http.get(url("/binance/api/v3/ping%00"));  // a NUL: no request target decodes from it
  CHECK(binance.status == 400);
  CHECK(binance.body == R"x({"code":-1100,"msg":"bad request target (a %-escape or NUL)"})x");
  const auto native = http.get(url("/v1/symbols%zz"));
  CHECK(native.status == 400);
  CHECK(native.body.find("bad request target") != std::string::npos);
  const auto plain = http.get(url("/binance/ws/btcusdt@trade"));
  CHECK(plain.status == 426);
  CHECK(plain.headers.at("upgrade") == "websocket");
  CHECK(http.get(url("/binance/api/v3/order")).body ==
        R"({"code":-1000,"msg":"Not served by cryptoflow's gateway: /api/v3/order"})");
  CHECK(http.get(url("/v1/nothing")).status == 404);
  CHECK(http.get(url("/nothing.js")).status == 404);
  CHECK(http.get(url("/binance/api/v3/ping")).body == "{}");  // the connection and the server go on
}
