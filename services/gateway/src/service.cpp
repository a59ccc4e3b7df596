#include "service.hpp"

#include "cryptoflow/kafka/reader.hpp"
#include "cryptoflow/log.hpp"

namespace cryptoflow::gateway {

ServiceInfo service_info() {
  auto vars = common_vars();
  vars.insert(
      vars.end(),
      {
          {"GATEWAY_PORT", "8000", "HTTP, WebSocket and SSE, the web page at /"},
          {"GATEWAY_BIND", "0.0.0.0", "address the port listens on"},
          {"GATEWAY_HISTORY", "24h", "how far back the in-memory state is rebuilt from the topics at start"},
          {"GATEWAY_CANDLES", "1500", "candles kept per symbol and interval (the oldest go first)"},
          {"GATEWAY_MAX_SERIES", "20000", "symbol x interval series kept at most (more are refused and counted)"},
          {"GATEWAY_MAX_CONNECTIONS", "1000", "open client connections at most (more are closed at accept)"},
          {"GATEWAY_MAX_SUBSCRIPTIONS", "1024", "streams per WebSocket connection at most"},
          {"GATEWAY_CLIENT_BUFFER", "4194304", "bytes queued for one WebSocket or SSE client before it is dropped"},
          {"GATEWAY_RATE_LIMIT", "50", "HTTP requests per second per client address (burst 4x); 0: no limit"},
          {"GATEWAY_CORS_ORIGIN", "*", "Access-Control-Allow-Origin; empty: no CORS headers"},
          {"GATEWAY_GROUPS", "stream-processor,influxdb-sink,elasticsearch-sink,s3-sink",
           "consumer groups /v1/groups shows when the cluster cannot list its groups (dev-broker)"},
          {"INFLUX_URL", "",
           "InfluxDB with the candle measurement influxdb-sink writes: older candle ranges; empty: none"},
          {"INFLUX_API", "v2", "v1 (/query, db, basic auth) or v2 (v1-compatible /query, token, bucket)"},
          {"INFLUX_TOKEN", "", "v2 API token (never logged)"},
          {"INFLUX_BUCKET", "crypto", "v2 bucket (it needs a DBRP mapping for /query)"},
          {"INFLUX_DB", "crypto", "v1 database"},
          {"INFLUX_USERNAME", "", "v1 user (basic auth)"},
          {"INFLUX_PASSWORD", "", "v1 password (never logged)"},
          {"GATEWAY_STATIC_DIR", "", "directory of the web page (index.html and its scripts); empty: no page"},
      });
  return {"gateway", "Serves the topics over Binance- and CoinGecko-compatible REST, WebSocket and SSE.", vars};
}

Options parse(const Config& config) {
  Options o;
  auto& s = o.server;
  s.port = static_cast<int>(config.integer("GATEWAY_PORT", 0, 65535));
  s.bind_address = config.str("GATEWAY_BIND");
  s.max_connections = static_cast<std::size_t>(config.integer("GATEWAY_MAX_CONNECTIONS", 1, 1'000'000));
  s.max_subscriptions = static_cast<std::size_t>(config.integer("GATEWAY_MAX_SUBSCRIPTIONS", 1, 100'000));
  s.client_buffer_bytes = static_cast<std::size_t>(config.integer("GATEWAY_CLIENT_BUFFER", 4096, 1LL << 32));
  s.requests_per_second = static_cast<double>(config.integer("GATEWAY_RATE_LIMIT", 0, 1'000'000));
  s.request_burst = std::max(1.0, 4 * s.requests_per_second);
  s.cors_origin = config.str("GATEWAY_CORS_ORIGIN");
  o.static_dir = config.str("GATEWAY_STATIC_DIR");
  o.feed.history_ms = config.duration_ms("GATEWAY_HISTORY");
  o.feed.candles_topic = config.str("CANDLES_TOPIC");
  o.feed.indicators_topic = config.str("INDICATORS_TOPIC");
  o.feed.tickers_topic = config.str("TICKERS_TOPIC");
  o.dead_letter_topic = config.str("DEAD_LETTER_TOPIC");
  o.browser.known_groups = config.list("GATEWAY_GROUPS");
  auto& h = o.history;
  h.url = config.str("INFLUX_URL");
  if (!h.url.empty()) h.url = config.http_url("INFLUX_URL");
  h.api = config.choice("INFLUX_API", {"v2", "v1"});
  h.token = config.str("INFLUX_TOKEN");
  h.bucket = config.str("INFLUX_BUCKET");
  h.db = config.str("INFLUX_DB");
  h.username = config.str("INFLUX_USERNAME");
  h.password = config.str("INFLUX_PASSWORD");
  o.limits.candles_per_series = static_cast<std::size_t>(config.integer("GATEWAY_CANDLES", 1, 1'000'000));
  o.limits.max_series = static_cast<std::size_t>(config.integer("GATEWAY_MAX_SERIES", 1, 10'000'000));
  if (!o.static_dir.empty()) {
    try {
      o.server.files = load_static_files(o.static_dir);
    } catch (const std::exception& e) {
      throw ConfigError(std::string("GATEWAY_STATIC_DIR: ") + e.what());
    }
  }
  o.kafka = kafka::Properties::from_config(config);
  return o;
}

int run(const Options& o, ServiceHost& host) {
  host.ensure_topics({{o.feed.candles_topic, {}}, {o.feed.indicators_topic, {}}, {o.feed.tickers_topic, {}}});
  MarketStore store(o.limits);
  // The topic browser and the dead-letter count: blocking cluster calls on a thread of their own.
  auto browser = std::make_shared<TopicBrowser>(std::make_unique<KafkaCluster>(o.kafka, std::chrono::seconds(5)),
                                                o.browser, o.dead_letter_topic);
  std::unique_ptr<CandleHistory> history;
  if (!o.history.url.empty()) history = std::make_unique<InfluxHistory>(o.history);
  Server server(o.server, store, host.metrics(), browser, std::move(history));
  Feed feed(
      o.feed, store, [&server](Event e) { server.publish(std::move(e)); }, host.metrics());
  kafka::KafkaReader reader(o.kafka, "gateway");
  const auto ready = host.readiness().add("caught up with the topics", [&] { return feed.ready(); });
  log_info("gateway: serving",
           {{"port", server.port()}, {"page", !o.server.files.empty()}, {"history", !o.history.url.empty()}});
  feed.run(reader, host.stop_token(), [&browser] { return browser->dead_letters(); });
  return 0;
}

}  // namespace cryptoflow::gateway
