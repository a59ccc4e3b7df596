// gateway end to end: dev-broker, the real stream-processor and binance-producer, and the gateway
// binary. Candles replayed from the XRP/ETH trades come back from the Binance-compatible REST
// API equal to Binance's own klines; a WebSocket client sees a window's live updates and then its
// final; an SSE client that reconnects with Last-Event-ID misses nothing and gets nothing twice.
#include <rapidjson/document.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <thread>

#include "cryptoflow/clock.hpp"
#include "cryptoflow/kafka.hpp"
#include "embedded_broker.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// A WebSocket client: handshake and any requests first (send/receive), then read_in_background.
class WsClient {
 public:
  WsClient(int port, const std::string& target) : ws_(ioc_) {
    ws_.next_layer().connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    ws_.handshake("127.0.0.1:" + std::to_string(port), target);
  }
  ~WsClient() {
    beast::error_code ignored;
    ws_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    if (reader_.joinable()) reader_.join();
  }
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;
  void send(const std::string& text) { ws_.write(asio::buffer(text)); }
  std::string receive() {
    beast::flat_buffer b;
    ws_.read(b);
    return beast::buffers_to_string(b.data());
  }
  void read_in_background() {
    reader_ = std::thread([this] {
      for (;;) {
        beast::flat_buffer b;
        beast::error_code ec;
        ws_.read(b, ec);
        if (ec) return;
        std::lock_guard lock(mu_);
        messages_.push_back(beast::buffers_to_string(b.data()));
      }
    });
  }
  std::vector<std::string> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }

 private:
  asio::io_context ioc_;
  beast::websocket::stream<tcp::socket> ws_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::vector<std::string> messages_;
};

struct SseEvent {
  std::string id, event, data;
  friend bool operator==(const SseEvent&, const SseEvent&) = default;
};

// A Server-Sent Events client over a plain socket: the request, then events as they arrive.
class SseClient {
 public:
  SseClient(int port, const std::string& target, const std::string& last_event_id = {}) : socket_(ioc_) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
    if (!last_event_id.empty()) request += "Last-Event-ID: " + last_event_id + "\r\n";
    request += "\r\n";
    asio::write(socket_, asio::buffer(request));
    reader_ = std::thread([this] {
      std::array<char, 4096> buf{};
      for (;;) {
        beast::error_code ec;
        const auto n = socket_.read_some(asio::buffer(buf), ec);
        if (ec) return;
        std::lock_guard lock(mu_);
        raw_.append(buf.data(), n);
      }
    });
  }
  ~SseClient() { close(); }
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;
  void close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    if (reader_.joinable()) reader_.join();
  }
  std::vector<SseEvent> events() const {
    std::string text;
    {
      std::lock_guard lock(mu_);
      text = raw_;
    }
    std::vector<SseEvent> out;
    auto pos = text.find("\r\n\r\n");
    if (pos == std::string::npos) return out;
    pos += 4;
    for (;;) {
      const auto end = text.find("\n\n", pos);
      if (end == std::string::npos) break;
      SseEvent e;
      std::string_view block(text.data() + pos, end - pos);
      while (!block.empty()) {
        const auto nl = block.find('\n');
        const auto line = block.substr(0, nl);
        if (line.starts_with("id: ")) e.id = line.substr(4);
        if (line.starts_with("event: ")) e.event = line.substr(7);
        if (line.starts_with("data: ")) e.data = line.substr(6);
        if (nl == std::string_view::npos) break;
        block.remove_prefix(nl + 1);
      }
      if (!e.event.empty()) out.push_back(e);
      pos = end + 2;
    }
    return out;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::string raw_;
};

struct Ohlcv {
  std::string open, high, low, close, volume;
  friend bool operator==(const Ohlcv&, const Ohlcv&) = default;
};

std::string normalized(const std::string& text) {
  return Decimal::parse(text)->normalized().to_string();
}

// Binance kline rows ([t, "o", "h", "l", "c", "v", ...]) by open time, numbers normalized.
std::map<std::int64_t, Ohlcv> klines_of(const std::string& json) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseNumbersAsStringsFlag>(json.c_str());
  std::map<std::int64_t, Ohlcv> out;
  if (d.HasParseError() || !d.IsArray()) return out;
  for (const auto& r : d.GetArray()) {
    if (!r.IsArray() || r.Size() < 6) continue;
    out[std::stoll(r[0].GetString())] = {normalized(r[1].GetString()), normalized(r[2].GetString()),
                                         normalized(r[3].GetString()), normalized(r[4].GetString()),
                                         normalized(r[5].GetString())};
  }
  return out;
}

struct Pipeline {
  TempDir dir;
  std::unique_ptr<Process> broker, processor, gateway;
  std::string bootstrap;
  int gateway_port = 0, gateway_admin = 0;
  HttpClient http;

  explicit Pipeline(const std::map<std::string, std::string>& gateway_env = {}) {
    broker = std::make_unique<Process>(std::vector<std::string>{binary("dev-broker")},
                                       std::map<std::string, std::string>{}, log("broker.log"));
    const auto line = broker->read_line(30s);
    REQUIRE(line.has_value());
    bootstrap = *line;
    processor = std::make_unique<Process>(
        std::vector<std::string>{binary("stream-processor")},
        env({{"ADMIN_PORT", "0"}, {"CANDLE_INTERVALS", "1m,5m"}, {"IDLE_TIMEOUT", "1s"}}), log("processor.log"));
    gateway_port = free_port();
    gateway_admin = free_port();
    auto genv = env({{"ADMIN_PORT", std::to_string(gateway_admin)},
                     {"GATEWAY_PORT", std::to_string(gateway_port)},
                     {"GATEWAY_BIND", "127.0.0.1"},
                     {"GATEWAY_RATE_LIMIT", "0"}});
    for (const auto& [k, v] : gateway_env) genv[k] = v;
    gateway = std::make_unique<Process>(std::vector<std::string>{binary("gateway")}, genv, log("gateway.log"));
    REQUIRE(eventually([&] { return http.get(admin("/readyz")).status == 200; }, 60s));
  }
  std::string log(const char* name) const { return (dir.path() / name).string(); }
  std::map<std::string, std::string> env(std::map<std::string, std::string> extra) const {
    extra.insert({{"KAFKA_BOOTSTRAP_SERVERS", bootstrap}, {"KAFKA_FETCH_WAIT_MAX_MS", "5"}, {"LOG_FORMAT", "text"}});
    return extra;
  }
  std::string url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(gateway_port) + target;
  }
  std::string admin(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(gateway_admin) + target;
  }
  std::string logs() const {
    return "processor:\n" + read_file(log("processor.log")) + "\ngateway:\n" + read_file(log("gateway.log"));
  }
};

}  // namespace

TEST_CASE("gateway: replayed XRP/ETH candles come back from /binance/api/v3/klines equal to Binance's klines") {
  Pipeline p(std::map<std::string, std::string>{{"GATEWAY_CANDLES", "4000"}});
  Process producer({binary("binance-producer")},
                   p.env({{"ADMIN_PORT", "0"}, {"REPLAY_FILE", fixture("freqtrade/XRPETH.aggTrade.jsonl")}}),
                   p.log("producer.log"));
  REQUIRE(producer.wait(120s) == 0);

  std::map<std::int64_t, Ohlcv> expected;
  for (const auto& [t, k] : klines_of(read_file(fixture("freqtrade/XRP_ETH-1m.json")))) expected[t] = k;
  REQUIRE(expected.size() == 3560);

  // Binance's paging: startTime and limit=1000 (its maximum), from the first window on.
  std::map<std::int64_t, Ohlcv> got;
  int pages = 0;
  const bool equal = eventually(
      [&] {
        got.clear();
        pages = 0;
        std::int64_t from = expected.begin()->first;
        for (;;) {
          const auto r = p.http.get(
              p.url("/binance/api/v3/klines?symbol=XRPETH&interval=1m&limit=1000&startTime=" + std::to_string(from)));
          if (r.status != 200) return false;
          const auto page = klines_of(r.body);
          ++pages;
          got.insert(page.begin(), page.end());
          if (page.size() < 1000) break;
          from = page.rbegin()->first + 1;
        }
        return got == expected;
      },
      120s, 1s);
  INFO(p.logs());
  CHECK(got.size() == expected.size());
  CHECK(equal);
  CHECK(pages == 4);

  // The full row: close time = open time + 1 min - 1 ms; the trade count; Binance's defaults.
  const auto row =
      p.http.get(p.url("/binance/api/v3/klines?symbol=XRPETH&interval=1m&limit=1&startTime=1570752000000"));
  REQUIRE(row.status == 200);
  rapidjson::Document d;
  d.Parse(row.body.c_str());
  REQUIRE(d.IsArray());
  REQUIRE(d.Size() == 1);
  CHECK(d[0].Size() == 12);
  CHECK(d[0][6].GetInt64() - d[0][0].GetInt64() == 59'999);
  CHECK(d[0][8].IsInt64());
  const auto last = p.http.get(p.url("/binance/api/v3/klines?symbol=XRPETH&interval=1m"));
  CHECK(klines_of(last.body).size() == 500);  // Binance's default limit
  CHECK(klines_of(last.body).rbegin()->first == expected.rbegin()->first);

  // The last price is the last kline's close.
  const auto price = p.http.get(p.url("/binance/api/v3/ticker/price?symbol=XRPETH"));
  rapidjson::Document pd;
  pd.Parse(price.body.c_str());
  REQUIRE(pd.IsObject());
  CHECK(normalized(pd["price"].GetString()) == expected.rbegin()->second.close);

  // Binance's errors, as its clients parse them.
  const auto bad_interval = p.http.get(p.url("/binance/api/v3/klines?symbol=XRPETH&interval=7m"));
  CHECK(bad_interval.status == 400);
  CHECK(bad_interval.body.find("-1120") != std::string::npos);
  const auto unknown = p.http.get(p.url("/binance/api/v3/klines?symbol=NOPE&interval=1m"));
  CHECK(unknown.status == 400);
  CHECK(unknown.body == R"({"code":-1121,"msg":"Invalid symbol."})");
  CHECK(p.http.get(p.url("/v1/candles?symbol=NOPE&interval=1m")).status == 404);
  CHECK(p.http.get(p.url("/v1/candles?symbol=XRPETH&interval=1m&limit=x")).body.find("\"parameter\":\"limit\"") !=
        std::string::npos);

  CHECK(p.gateway->terminate() == 0);
  CHECK(p.processor->terminate() == 0);
}

namespace {

std::string trade(std::int64_t id, std::int64_t t, const char* price, const char* qty, bool buyer_is_maker) {
  Trade x;
  x.source = "binance";
  x.symbol = "LIVEUSDT";
  x.trade_id = id;
  x.trade_time = x.event_time = x.received_time = t;
  x.price = *Decimal::parse(price);
  x.quantity = *Decimal::parse(qty);
  x.buyer_is_maker = buyer_is_maker;
  return to_json(x);
}

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  return d;
}

}  // namespace

TEST_CASE("gateway: WebSocket clients see a window's live updates then its final - SSE resumes with Last-Event-ID") {
  Pipeline p;
  MetricsRegistry metrics;
  kafka::Properties props;
  props.set("bootstrap.servers", p.bootstrap);
  kafka::KafkaProducer producer(props, metrics);
  const auto send = [&](const std::vector<std::string>& trades) {
    for (const auto& t : trades) producer.produce({.topic = "crypto.trades", .key = "LIVEUSDT", .value = t});
    producer.flush(10s);
  };

  WsClient raw(p.gateway_port, "/binance/ws/liveusdt@kline_1m");
  raw.read_in_background();
  WsClient combined(p.gateway_port, "/binance/stream");
  combined.send(R"({"method":"SUBSCRIBE","params":["liveusdt@kline_1m"],"id":7})");
  CHECK(combined.receive() == R"({"result":null,"id":7})");
  combined.send(R"({"method":"SUBSCRIBE","params":["liveusdt@trade"],"id":8})");
  CHECK(parse(combined.receive())["error"]["code"].GetInt() == 2);
  combined.read_in_background();
  SseClient whole(p.gateway_port, "/v1/stream?symbols=LIVEUSDT&intervals=1m");
  auto first = std::make_unique<SseClient>(p.gateway_port, "/v1/stream?symbols=LIVEUSDT&intervals=1m");

  // Ten minutes ago, aligned to the minute: within MAX_CLOCK_SKEW, and the watermark is ours.
  const std::int64_t m = (wall_clock_ms() - 600'000) / 60'000 * 60'000;
  const auto klines = [&](const WsClient& c, bool wrapped) {
    std::vector<rapidjson::Document> out;
    for (const auto& text : c.messages()) {
      auto d = parse(text);
      if (wrapped) {
        if (!d.IsObject() || !d.HasMember("data")) continue;
        rapidjson::Document inner;
        inner.CopyFrom(d["data"], inner.GetAllocator());
        d.Swap(inner);
      }
      if (d.IsObject() && d.HasMember("k") && d["k"]["t"].GetInt64() == m) out.push_back(std::move(d));
    }
    return out;
  };

  send({trade(1, m + 1'000, "10.5", "1", false), trade(2, m + 2'000, "11", "2", true)});
  REQUIRE(eventually([&] { return !klines(raw, false).empty() && klines(raw, false).back()["k"]["n"].GetInt() == 2; },
                     30s));
  const auto sse_seen = first->events();
  REQUIRE_FALSE(sse_seen.empty());
  const auto last_id = sse_seen.back().id;
  first->close();
  first.reset();

  send({trade(3, m + 30'000, "9.75", "0.5", false), trade(4, m + 59'999, "10", "1.5", false)});
  REQUIRE(eventually([&] { return klines(raw, false).back()["k"]["n"].GetInt() == 4; }, 30s));
  // A trade three minutes on moves the watermark (lateness 60 s) past the window's end: its final.
  send({trade(5, m + 180'000, "12", "1", false)});
  REQUIRE(eventually([&] { return klines(raw, false).back()["k"]["x"].GetBool(); }, 60s));
  INFO(p.logs());

  const auto updates = klines(raw, false);
  REQUIRE(updates.size() >= 3);  // at least: after the first two trades, after four, and the final
  for (std::size_t i = 0; i + 1 < updates.size(); ++i) CHECK_FALSE(updates[i]["k"]["x"].GetBool());
  const auto& k = updates.back()["k"];
  CHECK(std::string(k["s"].GetString()) == "LIVEUSDT");
  CHECK(std::string(k["i"].GetString()) == "1m");
  CHECK(k["T"].GetInt64() == m + 59'999);
  CHECK(normalized(k["o"].GetString()) == "10.5");
  CHECK(normalized(k["h"].GetString()) == "11");
  CHECK(normalized(k["l"].GetString()) == "9.75");
  CHECK(normalized(k["c"].GetString()) == "10");
  CHECK(normalized(k["v"].GetString()) == "5");
  CHECK(normalized(k["V"].GetString()) == "3");  // taker buys: trades 1, 3 and 4
  CHECK(k["n"].GetInt() == 4);
  REQUIRE(eventually(
      [&] { return !klines(combined, true).empty() && klines(combined, true).back()["k"]["x"].GetBool(); }, 10s));
  CHECK(normalized(klines(combined, true).back()["k"]["c"].GetString()) == "10");

  // The reconnecting client gets exactly what the client that never left got after last_id.
  SseClient resumed(p.gateway_port, "/v1/stream?symbols=LIVEUSDT&intervals=1m", last_id);
  std::vector<SseEvent> expected_after;
  REQUIRE(eventually(
      [&] {
        const auto all = whole.events();
        const auto at = std::find_if(all.begin(), all.end(), [&](const SseEvent& e) { return e.id == last_id; });
        if (at == all.end()) return false;
        expected_after.assign(at + 1, all.end());
        return !expected_after.empty() && resumed.events() == expected_after;
      },
      10s));
  CHECK(resumed.events() == expected_after);
  const auto finals = std::count_if(expected_after.begin(), expected_after.end(), [&](const SseEvent& e) {
    return e.data.find("\"start\":" + std::to_string(m) + ",") != std::string::npos &&
           e.data.find("\"final\":true") != std::string::npos;
  });
  CHECK(finals == 1);

  CHECK(p.gateway->terminate() == 0);
  CHECK(p.processor->terminate() == 0);
}
