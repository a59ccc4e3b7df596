#include "service.hpp"

#include <array>
#include <charconv>

#include "cryptoflow/kafka/reader.hpp"
#include "cryptoflow/runtime/log.hpp"

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
          {"GATEWAY_MAX_SERIES", "20000",
           "symbol x interval series kept at most (more are refused and counted); lowered at start so that "
           "GATEWAY_CANDLES of each fit GATEWAY_MAX_MEMORY"},
          {"GATEWAY_TRADES", "1000",
           "recent trades kept per symbol for /api/v3/trades, aggTrades, historicalTrades (the symbols whose "
           "trades are kept: as many as fit an eighth of GATEWAY_MAX_MEMORY)"},
          {"GATEWAY_TRADES_HISTORY", "15m",
           "how far back crypto.trades is read at start (avgPrice needs 5 minutes; GATEWAY_TRADES bound the rest)"},
          {"GATEWAY_BOOKS_HISTORY", "2m",
           "how far back crypto.books is read at start (more than the producer's BOOKS_SNAPSHOT_INTERVAL: a book "
           "is served once a snapshot of it is read)"},
          {"GATEWAY_MAX_BOOKS", "2000",
           "order books held at most (about 100 bytes a level: 200 kB for a 1000-level book); more are refused and "
           "counted"},
          {"GATEWAY_MAX_MEMORY", "768Mi",
           "memory for what the gateway holds (candles: 5/8, trades: 1/8, events kept for resuming clients: 1/8, "
           "CoinGecko price history: 1/16); "
           "set it below the container's limit; client buffers (GATEWAY_CLIENT_BUFFER) come on top"},
          {"GATEWAY_MAX_CONNECTIONS", "1000",
           "open client connections at most (more are answered 503 and closed; lowered at start to fit the "
           "process's open-file limit, less 64)"},
          {"GATEWAY_MAX_CONNECTIONS_PER_ADDRESS", "100",
           "open connections from one client address at most (more are answered 429 and closed)"},
          {"GATEWAY_TRUSTED_PROXIES", "",
           "comma-separated addresses of reverse proxies whose X-Forwarded-For names the client; empty: none"},
          {"GATEWAY_REQUEST_TIMEOUT", "5s", "a request's header and body must arrive within this of its first byte"},
          {"GATEWAY_IDLE_TIMEOUT", "30s", "a kept-alive connection with no next request is closed after this"},
          {"GATEWAY_WRITE_TIMEOUT", "30s",
           "a WebSocket or SSE client whose write does not finish within this is closed"},
          {"GATEWAY_STREAM_TIMEOUT", "60s",
           "a WebSocket client that answers no ping (sent every half of this) within this is closed"},
          {"GATEWAY_WEIGHT_LIMIT", "6000",
           "Binance request weight per minute per client address (429 past it, 418 after ignored 429s); 0: none"},
          {"GATEWAY_MAX_SUBSCRIPTIONS", "1024", "streams per WebSocket connection at most"},
          {"GATEWAY_CLIENT_BUFFER", "4194304", "bytes queued for one WebSocket or SSE client before it is dropped"},
          {"GATEWAY_RATE_LIMIT", "50", "HTTP requests per second per client address (burst 4x); 0: no limit"},
          {"GATEWAY_CORS_ORIGIN", "*", "Access-Control-Allow-Origin; empty: no CORS headers"},
          {"GATEWAY_GROUPS", "stream-processor,influxdb-sink,elasticsearch-sink,s3-sink",
           "consumer groups /v1/groups shows when the cluster cannot list its groups (dev-broker)"},
          {"GATEWAY_BROWSE_TOPICS", "",
           "comma-separated topics the topic browser (/v1/topics) shows; empty: the seven market and dead-letter "
           "topics (TRADES_TOPIC ... DEAD_LETTER_TOPIC), never the processor's state"},
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

std::optional<std::size_t> parse_bytes(std::string_view text) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  static constexpr std::array<std::pair<std::string_view, std::size_t>, 7> units{{{"", 1},
                                                                                  {"Ki", 1ULL << 10},
                                                                                  {"Mi", 1ULL << 20},
                                                                                  {"Gi", 1ULL << 30},
                                                                                  {"k", 1000},
                                                                                  {"M", 1'000'000},
                                                                                  {"G", 1'000'000'000}}};
  for (const auto& [name, factor] : units)
    if (unit == name) {
      if (value > SIZE_MAX / factor) return std::nullopt;
      return value * factor;
    }
  return std::nullopt;
}

void fit_memory(Options& o) {
  o.server.events_kept_bytes = o.max_memory / 8;
  const auto candles = o.max_memory / 8 * 5;
  const auto per_series = o.limits.candles_per_series * kBytesPerCandle + kBytesPerSeries;
  const auto fit = std::max<std::size_t>(1, candles / per_series);
  o.derived_series = 0;
  if (o.limits.max_series > fit) {
    o.derived_series = fit;
    o.limits.max_series = fit;
  }
  o.trades.max_symbols =
      std::max<std::size_t>(1, o.max_memory / 8 / (o.trades.per_symbol * kBytesPerTrade + kBytesPerTradeSymbol));
  o.limits.max_ticker_histories =
      std::max<std::size_t>(1, o.max_memory / 16 / (TickerHistory::kMaxBuckets * kBytesPerTickerBucket));
}

Options parse(const Config& config) {
  Options o;
  auto& s = o.server;
  s.port = static_cast<int>(config.integer("GATEWAY_PORT", 0, 65535));
  s.bind_address = config.str("GATEWAY_BIND");
  s.max_connections = static_cast<std::size_t>(config.integer("GATEWAY_MAX_CONNECTIONS", 1, 1'000'000));
  s.max_connections_per_address =
      static_cast<std::size_t>(config.integer("GATEWAY_MAX_CONNECTIONS_PER_ADDRESS", 1, 1'000'000));
  s.trusted_proxies = config.list("GATEWAY_TRUSTED_PROXIES");
  s.request_timeout = std::chrono::milliseconds(config.duration_ms("GATEWAY_REQUEST_TIMEOUT"));
  s.idle_timeout = std::chrono::milliseconds(config.duration_ms("GATEWAY_IDLE_TIMEOUT"));
  s.write_timeout = std::chrono::milliseconds(config.duration_ms("GATEWAY_WRITE_TIMEOUT"));
  s.stream_timeout = std::chrono::milliseconds(config.duration_ms("GATEWAY_STREAM_TIMEOUT"));
  for (const auto& [name, value] :
       {std::pair{"GATEWAY_REQUEST_TIMEOUT", s.request_timeout}, std::pair{"GATEWAY_IDLE_TIMEOUT", s.idle_timeout},
        std::pair{"GATEWAY_WRITE_TIMEOUT", s.write_timeout}, std::pair{"GATEWAY_STREAM_TIMEOUT", s.stream_timeout}})
    if (value.count() < 100) throw ConfigError(std::string(name) + ": at least 100ms");
  s.weight_per_minute = config.integer("GATEWAY_WEIGHT_LIMIT", 0, 1'000'000'000);
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
  o.feed.trades_topic = config.str("TRADES_TOPIC");
  o.feed.trades_history_ms = config.duration_ms("GATEWAY_TRADES_HISTORY");
  o.feed.books_topic = config.str("BOOKS_TOPIC");
  o.feed.books_history_ms = config.duration_ms("GATEWAY_BOOKS_HISTORY");
  o.max_books = static_cast<std::size_t>(config.integer("GATEWAY_MAX_BOOKS", 0, 1'000'000));
  o.trades.per_symbol = static_cast<std::size_t>(config.integer("GATEWAY_TRADES", 1, 1'000'000));
  o.dead_letter_topic = config.str("DEAD_LETTER_TOPIC");
  o.browser.known_groups = config.list("GATEWAY_GROUPS");
  o.browser.topics = config.list("GATEWAY_BROWSE_TOPICS");
  if (o.browser.topics.empty())
    for (const char* name : {"TRADES_TOPIC", "TICKERS_TOPIC", "CANDLES_TOPIC", "INDICATORS_TOPIC", "BOOKS_TOPIC",
                             "LATE_TRADES_TOPIC", "DEAD_LETTER_TOPIC"})
      o.browser.topics.push_back(config.str(name));
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
  const auto memory = parse_bytes(config.str("GATEWAY_MAX_MEMORY"));
  if (!memory || *memory < (std::size_t{16} << 20))
    throw ConfigError("GATEWAY_MAX_MEMORY='" + config.str("GATEWAY_MAX_MEMORY") +
                      "' is not a size of at least 16Mi (bytes, or with Ki, Mi, Gi, k, M, G)");
  o.max_memory = *memory;
  fit_memory(o);
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
  host.ensure_topics({{o.feed.candles_topic, {}},
                      {o.feed.indicators_topic, {}},
                      {o.feed.tickers_topic, {}},
                      {o.feed.trades_topic, {}},
                      {o.feed.books_topic, {}}});
  MarketStore store(o.limits);
  TradeStore trades(o.trades);
  BookStore books(o.max_books);
  // The topic browser and the dead-letter count: blocking cluster calls on a thread of their own.
  auto browser = std::make_shared<TopicBrowser>(std::make_unique<KafkaCluster>(o.kafka, std::chrono::seconds(5)),
                                                o.browser, o.dead_letter_topic);
  std::unique_ptr<CandleHistory> history;
  if (!o.history.url.empty()) history = std::make_unique<InfluxHistory>(o.history);
  Server server(o.server, store, host.metrics(), browser, std::move(history), &trades, &books);
  Feed feed(
      o.feed, store, [&server](Event e) { server.publish(std::move(e)); }, host.metrics(), &trades, &books);
  kafka::KafkaReader reader(o.kafka, "gateway");
  const auto ready = host.readiness().add("caught up with the topics", [&] { return feed.ready(); });
  const auto accepting =
      host.readiness().add("accepting connections (a free slot, file descriptors)", [&] { return server.accepting(); });
  if (o.derived_series > 0)
    log_warn("gateway: GATEWAY_MAX_SERIES lowered so that the held candles fit GATEWAY_MAX_MEMORY",
             {{"max_series", o.derived_series},
              {"candles_per_series", o.limits.candles_per_series},
              {"max_memory", o.max_memory}});
  log_info("gateway: trades kept", {{"per_symbol", o.trades.per_symbol}, {"max_symbols", o.trades.max_symbols}});
  log_info("gateway: ticker histories kept", {{"coins_x_currencies", o.limits.max_ticker_histories}});
  log_info("gateway: serving",
           {{"port", server.port()}, {"page", !o.server.files.empty()}, {"history", !o.history.url.empty()}});
  feed.run(reader, host.stop_token(), [&browser] { return browser->dead_letters(); });
  return 0;
}

}  // namespace cryptoflow::gateway
