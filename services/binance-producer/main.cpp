// binance-producer: Binance trades -> crypto.trades (key = symbol, timestamp = trade time).
#include <chrono>
#include <cstdlib>
#include <memory>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/service.hpp"
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

int run(const Config& config, const std::vector<std::string>& args) {
  if (!args.empty()) throw ConfigError("unknown argument " + args.front() + " (see --help)");
  (void)config.choice("BINANCE_STREAM", {"trade", "aggTrade"});
  if (config.list("BINANCE_SYMBOLS").empty()) throw ConfigError("BINANCE_SYMBOLS is empty");
  const auto replay_path = config.str("REPLAY_FILE");
  if (replay_path.empty())
    throw ConfigError(
        "REPLAY_FILE is empty: this build replays recorded frames only; the live WebSocket "
        "client is tracked as its own issue (see docs/operations.md)");
  const double speed = replay_speed(config);
  const auto topic = config.str("TRADES_TOPIC");
  const auto props = kafka::Properties::from_config(config);

  ShutdownSignal::install();
  MetricsRegistry metrics;
  kafka::ensure_topics(config, props, {topic});
  kafka::Producer producer(props, metrics);
  const auto admin = start_admin_server(
      config, metrics, [&] { return kafka::cluster_reachable(producer.handle(), std::chrono::milliseconds(500)); });

  binance::Publisher publisher(producer, topic, metrics);
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
                              {"REPLAY_FILE", "",
                               "replay recorded frames instead of connecting (one JSON event or combined-stream "
                               "wrapper per line, optionally prefixed '<ts>: ')"},
                              {"REPLAY_SPEED", "0",
                               "0 = as fast as possible, 1 = real time, N = N x real time; exits 0 once delivered"},
                          });
  return cryptoflow::run_service(argc, argv,
                                 {"binance-producer", "Publishes Binance trades to Kafka (crypto.trades).", vars}, run);
}
