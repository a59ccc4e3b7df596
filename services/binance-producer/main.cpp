// binance-producer: Binance trades -> crypto.trades (key = symbol, timestamp = trade time).
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>

#include "cryptoflow/http.hpp"
#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/service.hpp"
#include "live_feed.hpp"
#include "publisher.hpp"
#include "replay.hpp"

namespace {
using namespace cryptoflow;

double replay_speed(const Config& config) {
  const auto text = config.str("REPLAY_SPEED");
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || v < 0) throw ConfigError("REPLAY_SPEED='" + text + "' is not a number >= 0");
  return v;
}

binance::LiveOptions live_options(const Config& config, const std::string& stream) {
  binance::LiveOptions o;
  o.urls = binance::stream_urls(config.str("BINANCE_WS_URL"), config.list("BINANCE_SYMBOLS"), stream);
  (void)binance::parse_url(o.urls.front(), "BINANCE_WS_URL");
  o.rest_base = config.str("BINANCE_REST_URL");
  (void)binance::parse_url(o.rest_base, "BINANCE_REST_URL");
  o.agg = stream == "aggTrade";
  o.rotate_after = std::chrono::milliseconds(config.duration_ms("BINANCE_ROTATE_AFTER"));
  o.reconnect_min = std::chrono::milliseconds(config.duration_ms("BINANCE_RECONNECT_MIN"));
  o.reconnect_max = std::chrono::milliseconds(config.duration_ms("BINANCE_RECONNECT_MAX"));
  if (o.rotate_after.count() <= 0 || o.reconnect_min.count() <= 0 || o.reconnect_max < o.reconnect_min)
    throw ConfigError("BINANCE_ROTATE_AFTER / BINANCE_RECONNECT_MIN / BINANCE_RECONNECT_MAX: positive, min <= max");
  o.ws.max_message = static_cast<std::size_t>(config.integer("BINANCE_MAX_FRAME_BYTES", 1024, 16 << 20));
  return o;
}

int run(const Config& config, const std::vector<std::string>& args) {
  if (!args.empty()) throw ConfigError("unknown argument " + args.front() + " (see --help)");
  const auto stream = config.choice("BINANCE_STREAM", {"trade", "aggTrade"});
  if (config.list("BINANCE_SYMBOLS").empty()) throw ConfigError("BINANCE_SYMBOLS is empty");
  const auto replay_path = config.str("REPLAY_FILE");
  const double speed = replay_speed(config);
  const auto live = replay_path.empty() ? std::optional(live_options(config, stream)) : std::nullopt;
  const auto topic = config.str("TRADES_TOPIC");
  const auto props = kafka::Properties::from_config(config);

  ShutdownSignal::install();
  MetricsRegistry metrics;
  kafka::ensure_topics(config, props, {topic});
  kafka::Producer producer(props, metrics);
  binance::Publisher publisher(producer, topic, metrics);

  if (live) {
    HttpClient http;
    binance::LiveFeed feed(*live, publisher, metrics, [&](const std::string& url) {
      const auto r = http.get(url);
      binance::RestAnswer a{static_cast<int>(r.error.empty() ? r.status : 0), r.body, {}};
      if (auto it = r.headers.find("retry-after"); it != r.headers.end())
        a.retry_after = std::chrono::seconds(std::atoll(it->second.c_str()));
      return a;
    });
    const auto admin = start_admin_server(config, metrics, [&] {
      return feed.connected() && kafka::cluster_reachable(producer.handle(), std::chrono::milliseconds(500));
    });
    log_info("streaming", {{"connections", static_cast<int>(live->urls.size())}, {"stream", stream}, {"topic", topic}});
    feed.run([] { return ShutdownSignal::requested(); });
    log_info("stopping, flushing");
    if (!producer.flush(std::chrono::seconds(30)))
      throw std::runtime_error("could not deliver every trade within 30 s");
    return 0;
  }

  const auto admin = start_admin_server(
      config, metrics, [&] { return kafka::cluster_reachable(producer.handle(), std::chrono::milliseconds(500)); });
  binance::ReplayFile file(replay_path);
  log_info("replaying", {{"file", replay_path}, {"speed", speed}, {"topic", topic}});
  const auto trades = binance::replay(file, publisher, producer, speed, [] { return ShutdownSignal::requested(); });
  log_info("replay read, flushing", {{"trades", trades}, {"interrupted", ShutdownSignal::requested()}});
  if (!producer.flush(std::chrono::seconds(60))) throw std::runtime_error("could not deliver every trade within 60 s");
  if (producer.failed() > 0) throw std::runtime_error(std::to_string(producer.failed()) + " trades were not delivered");
  log_info("replay delivered", {{"trades", trades}, {"delivered", producer.delivered()}});
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  auto vars = cryptoflow::common_vars();
  vars.insert(vars.end(), {
                              {"BINANCE_SYMBOLS", "btcusdt,ethusdt,solusdt,bnbusdt,xrpusdt", "symbols, any case"},
                              {"BINANCE_STREAM", "trade", "trade or aggTrade"},
                              {"BINANCE_WS_URL", "wss://stream.binance.com:9443",
                               "WebSocket base; combined streams at /stream?streams=..."},
                              {"BINANCE_REST_URL", "https://api.binance.com", "REST base, for gap backfill"},
                              {"BINANCE_ROTATE_AFTER", "23h",
                               "open a replacement connection this long after connecting (Binance cuts at 24 h)"},
                              {"BINANCE_RECONNECT_MIN", "1s", "first reconnect delay (doubles, with jitter)"},
                              {"BINANCE_RECONNECT_MAX", "60s", "largest reconnect delay"},
                              {"BINANCE_MAX_FRAME_BYTES", "65536", "larger WebSocket messages close the connection"},
                              {"REPLAY_FILE", "",
                               "replay recorded frames instead of connecting (one JSON event or combined-stream "
                               "wrapper per line, optionally prefixed '<ts>: ')"},
                              {"REPLAY_SPEED", "0",
                               "0 = as fast as possible, 1 = real time, N = N x real time; exits 0 once delivered"},
                          });
  return cryptoflow::run_service(argc, argv,
                                 {"binance-producer", "Publishes Binance trades to Kafka (crypto.trades).", vars}, run);
}
