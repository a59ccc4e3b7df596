#include "service.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "cryptoflow/kafka/producer.hpp"
#include "cryptoflow/kafka/reader.hpp"
#include "cryptoflow/net/http.hpp"
#include "cryptoflow/runtime/clock.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "frame_decoder.hpp"
#include "publisher.hpp"
#include "replay.hpp"
#include "resume.hpp"

namespace cryptoflow::binance {
namespace {

double replay_speed(const Config& config) {
  const auto text = config.str("REPLAY_SPEED");
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < 0)
    throw ConfigError("REPLAY_SPEED='" + text + "' is not a number >= 0");
  return v;
}

bool usdm(const Config& config) {
  return config.choice("BINANCE_MARKET", {"spot", "usdm"}) == "usdm";
}

// BINANCE_DEPTH -> the stream's name, or "" for off: spot @depth@100ms / @depth (1000 ms); USD-M
// futures @depth@100ms / @depth (250 ms) / @depth@500ms.
std::string depth_stream(const Config& config) {
  const auto speed = config.choice("BINANCE_DEPTH", {"off", "100ms", "250ms", "500ms", "1000ms"});
  if (speed == "off") return {};
  if (speed == "100ms") return "depth@100ms";
  if (usdm(config)) {
    if (speed == "1000ms") throw ConfigError("BINANCE_DEPTH=1000ms: USD-M futures stream 100ms, 250ms or 500ms");
    return speed == "250ms" ? "depth" : "depth@500ms";
  }
  if (speed != "1000ms") throw ConfigError("BINANCE_DEPTH=" + speed + ": spot streams 100ms or 1000ms");
  return "depth";
}

std::optional<DepthOptions> depth_options(const Config& config) {
  if (depth_stream(config).empty()) return std::nullopt;
  DepthOptions d;
  d.limit = static_cast<std::size_t>(config.integer("BINANCE_DEPTH_LIMIT", 5, 5000));
  if (usdm(config)) {
    d.chain = BookSync::Chain::futures;
    if (const std::vector<std::size_t> limits{5, 10, 20, 50, 100, 500, 1000};
        std::find(limits.begin(), limits.end(), d.limit) == limits.end())
      throw ConfigError("BINANCE_DEPTH_LIMIT=" + std::to_string(d.limit) +
                        ": USD-M futures answer 5, 10, 20, 50, 100, 500 or 1000 levels");
  }
  d.snapshot_every = std::chrono::milliseconds(config.duration_ms("BOOKS_SNAPSHOT_INTERVAL"));
  if (d.snapshot_every.count() <= 0) throw ConfigError("BOOKS_SNAPSHOT_INTERVAL must be positive");
  return d;
}

LiveOptions live_options(const Config& config, const std::string& stream) {
  LiveOptions o;
  std::vector<std::string> streams{stream};
  const bool futures = usdm(config);
  o.depth = depth_options(config);
  if (o.depth) streams.push_back(depth_stream(config));
  // Binance's own limit per IP: 6000 a minute on spot, 2400 on USD-M futures.
  o.rest_weight_per_minute = static_cast<int>(
      std::min<std::int64_t>(config.integer("BINANCE_REST_WEIGHT_PER_MINUTE", 250, 6000), futures ? 2400 : 6000));
  const auto ws = config.str("BINANCE_WS_URL");
  o.urls = stream_urls(ws.empty() ? (futures ? "wss://fstream.binance.com" : "wss://stream.binance.com:9443") : ws,
                       config.list("BINANCE_SYMBOLS"), streams);
  (void)parse_ws_or_http_url(o.urls.front(), "BINANCE_WS_URL");
  const auto rest = config.str("BINANCE_REST_URL");
  o.rest_base = rest.empty() ? (futures ? "https://fapi.binance.com" : "https://api.binance.com") : rest;
  o.rest_api = futures ? "/fapi/v1" : "/api/v3";
  (void)parse_ws_or_http_url(o.rest_base, "BINANCE_REST_URL");
  o.agg = stream == "aggTrade";
  o.rotate_after = std::chrono::milliseconds(config.duration_ms("BINANCE_ROTATE_AFTER"));
  o.reconnect_min = std::chrono::milliseconds(config.duration_ms("BINANCE_RECONNECT_MIN"));
  o.reconnect_max = std::chrono::milliseconds(config.duration_ms("BINANCE_RECONNECT_MAX"));
  if (o.rotate_after.count() <= 0 || o.reconnect_min.count() <= 0 || o.reconnect_max < o.reconnect_min)
    throw ConfigError("BINANCE_ROTATE_AFTER / BINANCE_RECONNECT_MIN / BINANCE_RECONNECT_MAX: positive, min <= max");
  // Up to the decoder's own limit: a larger WebSocket message would be read only to be refused.
  o.ws.max_message = static_cast<std::size_t>(
      config.integer("BINANCE_MAX_FRAME_BYTES", 1024, static_cast<std::int64_t>(kMaxFrameBytes)));
  return o;
}

// Each symbol's newest trade in the last resume_lookback of the topic. A failure here fails the
// start (and the orchestrator restarts it): streaming without knowing where the topic ends
// would lose the trades made while the producer was away, silently.
std::map<std::string, std::int64_t> resume_points(const Options& o, ServiceHost& host) {
  kafka::KafkaReader reader(o.kafka, "binance-producer-resume");
  auto points = last_trade_ids(reader, o.topic, o.symbols, wall_clock_ms() - o.resume_lookback.count(),
                               std::chrono::seconds(60), host.stop_token());
  for (const auto& [symbol, id] : points)
    log_info("resuming after the topic's last trade", {{"symbol", symbol}, {"trade_id", id}});
  log_info("resume points read", {{"symbols", static_cast<std::int64_t>(o.symbols.size())},
                                  {"found", static_cast<std::int64_t>(points.size())}});
  return points;
}

}  // namespace

RestGet rest_over(HttpClient& http) {
  return [&http](const std::string& url) {
    const auto r = http.get(url);
    RestAnswer a{static_cast<int>(r.error.empty() ? r.status : 0), r.body, {}};
    if (r.retry_after) a.retry_after = *r.retry_after;
    return a;
  };
}

kafka::Properties producer_properties(const kafka::Properties& configured) {
  auto p = configured;
  if (const auto t = p.get("message.timeout.ms"); t && *t != "0")
    log_warn("KAFKA_MESSAGE_TIMEOUT_MS ignored: binance-producer keeps a trade queued until Kafka has it",
             {{"configured", *t}});
  p.set("message.timeout.ms", "0");
  return p;
}

ServiceInfo service_info() {
  auto vars = common_vars();
  vars.insert(
      vars.end(),
      {
          {"BINANCE_SYMBOLS", "btcusdt,ethusdt,solusdt,bnbusdt,xrpusdt", "symbols, any case"},
          {"BINANCE_MARKET", "spot",
           "spot, or usdm (USD-M futures: aggTrade only, books chained by pu; their symbols repeat spot's, "
           "so give them their own TRADES_TOPIC and BOOKS_TOPIC)"},
          {"BINANCE_STREAM", "trade", "trade or aggTrade"},
          {"BINANCE_WS_URL", "",
           "WebSocket base, combined streams at /stream?streams=...; empty: the market's "
           "(wss://stream.binance.com:9443, usdm wss://fstream.binance.com)"},
          {"BINANCE_REST_URL", "",
           "REST base, for gap backfill and depth snapshots; empty: the market's (https://api.binance.com "
           "/api/v3, usdm https://fapi.binance.com /fapi/v1)"},
          {"BINANCE_DEPTH", "100ms",
           "order books: off, 100ms or 1000ms (usdm: 100ms, 250ms or 500ms), the <symbol>@depth stream on the "
           "same connections; 100ms by default, the speed ccxt and the SDKs watch books at"},
          {"BINANCE_DEPTH_LIMIT", "1000",
           "levels a side of the REST snapshot and of each book (5-5000, weight 5/25/50/250 up to "
           "100/500/1000/5000; usdm 5/10/20/50/100/500/1000, weight 2/5/10/20 up to 50/100/500/1000)"},
          {"BOOKS_SNAPSHOT_INTERVAL", "30s",
           "a book in sync is written whole to the books topic this often (a new reader's wait)"},
          {"BINANCE_REST_WEIGHT_PER_MINUTE", "3000",
           "REST request weight spent at most per minute (Binance allows 6000 per IP; usdm 2400, the cap there)"},
          {"BINANCE_ROTATE_AFTER", "23h",
           "open a replacement connection this long after connecting (Binance cuts at 24 h)"},
          {"BINANCE_RECONNECT_MIN", "1s", "first reconnect delay (doubles, with jitter)"},
          {"BINANCE_RECONNECT_MAX", "60s", "largest reconnect delay"},
          {"BINANCE_MAX_FRAME_BYTES", "65536", "larger WebSocket messages close the connection"},
          {"BINANCE_RESUME_LOOKBACK", "24h",
           "live: at start, look this far back in the trades topic for each symbol's last trade "
           "and backfill from it; 0 = start from the live stream"},
          {"REPLAY_FILE", "",
           "replay recorded frames instead of connecting (one JSON event or combined-stream "
           "wrapper per line, optionally prefixed '<ts>: ')"},
          {"REPLAY_DEPTH_SNAPSHOTS", "",
           "replay: recorded REST depth answers ('<url> -> <ts>: <json>' lines) for the books of the file's depth "
           "events; empty: a replay carries no books"},
          {"REPLAY_SPEED", "0", "0 = as fast as possible, 1 = real time, N = N x real time; exits 0 once delivered"},
      });
  vars.push_back(retry_after_max_var());
  return {"binance-producer", "Publishes Binance trades and order books to Kafka (crypto.trades, crypto.books).", vars};
}

Options parse(const Config& config) {
  Options o;
  o.stream = config.choice("BINANCE_STREAM", {"trade", "aggTrade"});
  if (usdm(config) && o.stream == "trade")
    throw ConfigError(
        "BINANCE_STREAM=trade: with BINANCE_MARKET=usdm use aggTrade (USD-M futures' trade history "
        "needs an API key, so a gap could not be backfilled)");
  if (config.list("BINANCE_SYMBOLS").empty()) throw ConfigError("BINANCE_SYMBOLS is empty");
  o.replay_file = config.str("REPLAY_FILE");
  o.replay_speed = replay_speed(config);
  if (o.replay_file.empty())
    o.live = live_options(config, o.stream);
  else if (!std::ifstream(o.replay_file))
    throw ConfigError("REPLAY_FILE='" + o.replay_file + "' cannot be read");
  o.replay_snapshots = config.str("REPLAY_DEPTH_SNAPSHOTS");
  if (!o.replay_snapshots.empty()) {
    if (!std::ifstream(o.replay_snapshots))
      throw ConfigError("REPLAY_DEPTH_SNAPSHOTS='" + o.replay_snapshots + "' cannot be read");
    o.replay_depth = depth_options(config);
  }
  o.topic = config.str("TRADES_TOPIC");
  o.books_topic = config.str("BOOKS_TOPIC");
  o.symbols = topic_keys(config.list("BINANCE_SYMBOLS"));
  o.resume_lookback = std::chrono::milliseconds(config.duration_ms("BINANCE_RESUME_LOOKBACK"));
  o.kafka = kafka::Properties::from_config(config);
  o.http.retry_after_max = std::chrono::milliseconds(config.duration_ms("RETRY_AFTER_MAX"));
  return o;
}

int run(const Options& o, ServiceHost& host) {
  const bool books = (o.live && o.live->depth) || o.replay_depth;
  if (books) {
    host.ensure_topics({{o.topic, {}}, {o.books_topic, {}}});
  } else {
    host.ensure_topics({{o.topic, {}}});
  }
  kafka::KafkaProducer producer(producer_properties(o.kafka), host.metrics());
  Publisher publisher(producer, o.topic, host.metrics(), o.books_topic);
  const auto kafka_ready =
      host.readiness().add("kafka reachable", [&] { return producer.reachable(std::chrono::milliseconds(500)); });

  if (o.live) {
    auto live = *o.live;
    try {
      if (o.resume_lookback.count() > 0) live.resume = resume_points(o, host);
    } catch (const kafka::Cancelled&) {  // SIGTERM while looking
      return 0;
    }
    HttpClient http(o.http);
    LiveFeed feed(live, publisher, host.metrics(), rest_over(http));
    const auto connected = host.readiness().add("exchange connected", [&] { return feed.connected(); });
    const auto caught_up = host.readiness().add("no symbol behind (backfilling)", [&] { return feed.behind() == 0; });
    log_info("streaming",
             {{"connections", static_cast<int>(o.live->urls.size())}, {"stream", o.stream}, {"topic", o.topic}});
    feed.run(host.stop_token());
    log_info("stopping, flushing");
    producer.flush(std::chrono::seconds(30));
    return 0;
  }

  ReplayFile file(o.replay_file);
  log_info("replaying", {{"file", o.replay_file}, {"speed", o.replay_speed}, {"topic", o.topic}});
  std::unique_ptr<RecordedSnapshots> snapshots;
  std::unique_ptr<DepthBooks> depth;
  if (o.replay_depth) {
    snapshots = std::make_unique<RecordedSnapshots>(o.replay_snapshots);
    depth = std::make_unique<DepthBooks>(
        *o.replay_depth, [&publisher](const BookRecord& r) { publisher.publish_book(r); },
        [&snapshots](const std::string& symbol) { snapshots->want(symbol); }, host.metrics());
    log_info("replaying books", {{"snapshots", static_cast<std::int64_t>(snapshots->size())}});
  }
  const auto trades =
      replay(file, publisher, producer, o.replay_speed, host.stop_token(), depth.get(), snapshots.get());
  log_info("replay read, flushing", {{"trades", trades}, {"interrupted", host.stop_requested()}});
  producer.flush(std::chrono::seconds(60));
  log_info("replay delivered", {{"trades", trades}, {"delivered", producer.delivered()}});
  return 0;
}

}  // namespace cryptoflow::binance
