// stream-processor: crypto.trades -> exact OHLCV candles on event time -> crypto.candles.
#include <memory>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/service.hpp"
#include "processor.hpp"

namespace {
using namespace cryptoflow;

int run(const Config& config, const std::vector<std::string>& args) {
  if (!args.empty()) throw ConfigError("unknown argument " + args.front() + " (see --help)");
  processor::ProcessorOptions o;
  o.engine.intervals = processor::parse_intervals(config.list("CANDLE_INTERVALS"));
  o.engine.allowed_lateness_ms = config.duration_ms("ALLOWED_LATENESS");
  o.engine.idle_timeout_ms = config.duration_ms("IDLE_TIMEOUT");
  (void)config.duration_ms("MA_WINDOW");
  (void)config.duration_ms("MA_SLIDE");
  const auto guarantee = config.choice("PROCESSING_GUARANTEE", {"exactly_once", "at_least_once"});
  o.commit_interval = std::chrono::milliseconds(config.integer("COMMIT_INTERVAL_MS", 1, 600'000));
  o.group_id = config.str("GROUP_ID");
  o.trades_topic = config.str("TRADES_TOPIC");
  o.candles_topic = config.str("CANDLES_TOPIC");
  o.late_topic = config.str("LATE_TRADES_TOPIC");
  o.dead_letter_topic = config.str("DEAD_LETTER_TOPIC");
  const auto props = kafka::Properties::from_config(config);
  if (guarantee == "exactly_once")
    log_warn(
        "exactly_once (transactions + state snapshots) is not in this build yet: running at_least_once; "
        "a restart may re-emit candles, which the sinks overwrite idempotently");

  ShutdownSignal::install();
  MetricsRegistry metrics;
  kafka::ensure_topics(config, props, {o.trades_topic, o.candles_topic, o.late_topic, o.dead_letter_topic});
  processor::StreamProcessor processor(props, o, metrics);
  const auto admin = start_admin_server(config, metrics, [&] { return processor.ready(); });
  log_info("processing", {{"group", o.group_id}, {"topic", o.trades_topic}, {"guarantee", guarantee}});
  processor.run([] { return ShutdownSignal::requested(); });
  log_info("stopped cleanly");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  auto vars = cryptoflow::common_vars();
  vars.insert(vars.end(), {
                              {"CANDLE_INTERVALS", "1m,5m,15m,1h", "tumbling windows"},
                              {"MA_WINDOW", "30s", "sliding moving-average window"},
                              {"MA_SLIDE", "10s", "sliding moving-average slide"},
                              {"ALLOWED_LATENESS", "60s", "watermark = max event time seen - lateness"},
                              {"IDLE_TIMEOUT", "10s", "a quiet partition stops holding the watermark back after this"},
                              {"PROCESSING_GUARANTEE", "exactly_once", "exactly_once or at_least_once"},
                              {"COMMIT_INTERVAL_MS", "100", "transaction / commit cadence"},
                              {"GROUP_ID", "stream-processor", "consumer group; scale by adding instances"},
                          });
  return cryptoflow::run_service(
      argc, argv, {"stream-processor", "Computes exact OHLCV candles on event time from crypto.trades.", vars}, run);
}
