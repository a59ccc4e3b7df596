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

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/runtime/clock.hpp"
#include "embedded_broker.hpp"
#include "test_support.hpp"
#include "ws_test_client.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

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

  explicit Pipeline(const std::map<std::string, std::string>& gateway_env = {},
                    const std::map<std::string, std::string>& processor_env = {}) {
    broker = std::make_unique<Process>(std::vector<std::string>{binary("dev-broker")},
                                       std::map<std::string, std::string>{}, log("broker.log"));
    const auto line = broker->read_line(30s);
    REQUIRE(line.has_value());
    bootstrap = *line;
    auto penv = env({{"ADMIN_PORT", "0"}, {"CANDLE_INTERVALS", "1m,5m"}, {"IDLE_TIMEOUT", "1s"}});
    for (const auto& [k, v] : processor_env) penv[k] = v;
    processor =
        std::make_unique<Process>(std::vector<std::string>{binary("stream-processor")}, penv, log("processor.log"));
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
  // The gateway keeps the last 1000 1m candles; the 2,560 before them come from a real InfluxDB
  // that influxdb-sink fills from the same topic (INFLUX_URL).
  InfluxServer influx;
  Pipeline p(std::map<std::string, std::string>{
      {"GATEWAY_CANDLES", "1000"}, {"INFLUX_URL", influx.url()}, {"INFLUX_API", "v1"}});
  Process sink({binary("influxdb-sink")},
               p.env({{"ADMIN_PORT", "0"},
                      {"INFLUX_URL", influx.url()},
                      {"INFLUX_API", "v1"},
                      {"INFLUX_FLUSH_INTERVAL_MS", "200"}}),
               p.log("sink.log"));
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

  // The native API reaches back through InfluxDB too: the first window's candle, exact digits.
  const auto first = expected.begin();
  const auto native =
      p.http.get(p.url("/v1/candles?symbol=XRPETH&interval=1m&limit=2&start=" + std::to_string(first->first)));
  rapidjson::Document nd;
  nd.Parse(native.body.c_str());
  REQUIRE(nd.IsObject());
  REQUIRE(nd["candles"].Size() == 2);
  CHECK(normalized(nd["candles"][0]["close"].GetString()) == first->second.close);
  CHECK(nd["candles"][0]["start"].GetInt64() == first->first);
  CHECK(nd["candles"][0]["end"].GetInt64() == first->first + 60'000);

  // InfluxDB down: the held candles, at once, with a Warning saying the older ones are missing.
  influx.stop();
  const auto held = p.http.get(
      p.url("/binance/api/v3/klines?symbol=XRPETH&interval=1m&limit=1000&startTime=" + std::to_string(first->first)));
  CHECK(held.status == 200);
  CHECK(klines_of(held.body).size() == 1000);
  CHECK(klines_of(held.body).begin()->first == std::next(expected.begin(), 2560)->first);
  CHECK(held.headers.contains("warning"));
  CHECK(metric_of(p.http, p.gateway_admin, "cryptoflow_gateway_history_failures_total") >= 1);
  influx.start();
  REQUIRE(eventually(
      [&] {
        const auto r = p.http.get(p.url("/binance/api/v3/klines?symbol=XRPETH&interval=1m&limit=1&startTime=" +
                                        std::to_string(first->first)));
        return r.status == 200 && !r.headers.contains("warning") && klines_of(r.body).begin()->first == first->first;
      },
      30s));

  CHECK(sink.terminate() == 0);
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
  combined.send(R"({"method":"SUBSCRIBE","params":["liveusdt@depth"],"id":8})");  // served (order books)
  CHECK(combined.receive() == R"({"result":null,"id":8})");
  combined.send(R"({"method":"SUBSCRIBE","params":["liveusdt@depth7"],"id":9})");  // not a Binance stream
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

TEST_CASE("gateway: the topic browser shows the topics - a dead letter with its reason - the processor's lag") {
  // at_least_once: the processor commits its offsets to the group. (Offsets committed inside a
  // transaction are not kept by librdkafka's mock cluster behind dev-broker; a real broker keeps them.)
  Pipeline p({}, {{"PROCESSING_GUARANTEE", "at_least_once"}});
  MetricsRegistry metrics;
  kafka::Properties props;
  props.set("bootstrap.servers", p.bootstrap);
  kafka::KafkaProducer producer(props, metrics);
  const std::int64_t m = (wall_clock_ms() - 600'000) / 60'000 * 60'000;
  for (std::int64_t i = 0; i < 5; ++i)
    producer.produce(
        {.topic = "crypto.trades", .key = "LIVEUSDT", .value = trade(i + 1, m + i * 1'000, "10", "1", false)});
  producer.produce(
      {.topic = "crypto.trades", .key = "LIVEUSDT", .value = R"({"source":"binance","symbol":"LIVEUSDT")"});
  producer.flush(10s);
  INFO(p.logs());

  // The processor read everything and committed it: its group's lag on crypto.trades is 0.
  rapidjson::Document groups;
  REQUIRE(eventually(
      [&] {
        const auto r = p.http.get(p.url("/v1/groups"));
        if (r.status != 200) return false;
        groups = parse(r.body);
        for (const auto& g : groups["groups"].GetArray()) {
          if (std::string(g["group"].GetString()) != "stream-processor") continue;
          std::int64_t committed = 0;
          for (const auto& part : g["partitions"].GetArray())
            if (std::string(part["topic"].GetString()) == "crypto.trades") committed += part["committed"].GetInt64();
          return committed >= 6 && g["lag"].GetInt64() == 0;
        }
        return false;
      },
      60s));

  const auto topics = parse(p.http.get(p.url("/v1/topics")).body);
  std::map<std::string, std::int64_t> held;
  for (const auto& t : topics["topics"].GetArray()) held[t["topic"].GetString()] = t["offsets"].GetInt64();
  CHECK(held["crypto.trades"] == 6);
  CHECK(held.contains("crypto.candles"));
  CHECK_FALSE(held.contains("__consumer_offsets"));

  // The dead letter: in the partition of its key, with the reason and where it came from.
  const auto dl = parse(p.http.get(p.url("/v1/topics/crypto.dead-letter")).body);
  const auto partitions = static_cast<std::int32_t>(dl["partitions"].Size());
  const auto where = kafka::default_partition("LIVEUSDT", partitions);
  rapidjson::Document messages;
  REQUIRE(eventually(
      [&] {
        const auto r = p.http.get(
            p.url("/v1/topics/crypto.dead-letter/partitions/" + std::to_string(where) + "/messages?limit=5"));
        messages = parse(r.body);
        return r.status == 200 && messages["messages"].Size() == 1;
      },
      30s));
  const auto& dead = messages["messages"][0];
  CHECK(std::string(dead["key"].GetString()) == "LIVEUSDT");
  CHECK(std::string(dead["value"].GetString()) == R"({"source":"binance","symbol":"LIVEUSDT")");
  std::map<std::string, std::string> headers;
  for (const auto& h : dead["headers"].GetArray()) headers[h["key"].GetString()] = h["value"].GetString();
  CHECK_FALSE(headers["error"].empty());
  CHECK(headers["source.topic"] == "crypto.trades");
  CHECK(headers["source.offset"] == "5");

  // The pipeline panel counts it (counted on the browser's worker, every 5 s).
  REQUIRE(
      eventually([&] { return parse(p.http.get(p.url("/v1/pipeline")).body)["dead_letters"].GetInt64() >= 1; }, 30s));
  CHECK(p.http.get(p.url("/v1/topics/crypto.dead-letter/partitions/99/messages")).status == 404);
  CHECK(p.http.get(p.url("/v1/groups/nobody")).status == 404);

  CHECK(p.gateway->terminate() == 0);
  CHECK(p.processor->terminate() == 0);
}
