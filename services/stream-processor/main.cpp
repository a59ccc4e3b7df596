// stream-processor: crypto.trades -> exact OHLCV candles on event time -> crypto.candles.
#include <unistd.h>

#include <memory>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/service.hpp"
#include "processor.hpp"

namespace {
using namespace cryptoflow;

std::string host_name() {
  char buf[256] = {};
  if (const char* h = std::getenv("HOSTNAME"); h && *h) return h;
  if (gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
  return "local";
}

int run(const Config& config, const std::vector<std::string>& args) {
  if (!args.empty()) throw ConfigError("unknown argument " + args.front() + " (see --help)");
  processor::ProcessorOptions o;
  o.engine.intervals = processor::parse_intervals(config.list("CANDLE_INTERVALS"));
  o.engine.allowed_lateness_ms = config.duration_ms("ALLOWED_LATENESS");
  o.engine.idle_timeout_ms = config.duration_ms("IDLE_TIMEOUT");
  o.engine.sma = processor::make_moving_average(config.str("MA_WINDOW"), config.str("MA_SLIDE"));
  const auto guarantee = config.choice("PROCESSING_GUARANTEE", {"exactly_once", "at_least_once"});
  o.commit_interval = std::chrono::milliseconds(config.integer("COMMIT_INTERVAL_MS", 1, 600'000));
  o.update_interval = std::chrono::milliseconds(config.integer("UPDATE_INTERVAL_MS", 0, 600'000));
  o.group_id = config.str("GROUP_ID");
  o.trades_topic = config.str("TRADES_TOPIC");
  o.candles_topic = config.str("CANDLES_TOPIC");
  o.indicators_topic = config.str("INDICATORS_TOPIC");
  o.state_topic = config.str("STATE_TOPIC");
  o.exactly_once = guarantee == "exactly_once";
  o.transactional_id = config.str("TRANSACTIONAL_ID");
  if (o.transactional_id.empty()) o.transactional_id = o.group_id + "-" + host_name();
  o.late_topic = config.str("LATE_TRADES_TOPIC");
  o.dead_letter_topic = config.str("DEAD_LETTER_TOPIC");
  const auto props = kafka::Properties::from_config(config);

  ShutdownSignal::install();
  MetricsRegistry metrics;
  kafka::ensure_topics(config, props,
                       {o.trades_topic, o.candles_topic, o.indicators_topic, o.late_topic, o.dead_letter_topic});
  kafka::ensure_topics(props, {o.state_topic}, static_cast<int>(config.integer("TOPIC_PARTITIONS", 1, 10000)),
                       static_cast<int>(config.integer("TOPIC_REPLICATION_FACTOR", 1, 16)), std::chrono::seconds(10),
                       {{"cleanup.policy", "compact"}});
  processor::StreamProcessor processor(props, o, metrics);
  const auto admin = start_admin_server(config, metrics, [&] { return processor.ready(); });
  log_info("processing", {{"group", o.group_id},
                          {"topic", o.trades_topic},
                          {"guarantee", guarantee},
                          {"transactional_id", o.exactly_once ? o.transactional_id : std::string("-")}});
  processor.run([] { return ShutdownSignal::requested(); });
  log_info("stopped cleanly");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  auto vars = cryptoflow::common_vars();
  vars.insert(
      vars.end(),
      {
          {"CANDLE_INTERVALS", "1m,5m,15m,1h", "tumbling windows"},
          {"MA_WINDOW", "30s", "sliding moving-average window"},
          {"MA_SLIDE", "10s", "sliding moving-average slide"},
          {"ALLOWED_LATENESS", "60s", "watermark = max event time seen - lateness"},
          {"IDLE_TIMEOUT", "10s", "a quiet partition stops holding the watermark back after this"},
          {"PROCESSING_GUARANTEE", "exactly_once", "exactly_once or at_least_once"},
          {"COMMIT_INTERVAL_MS", "100", "transaction / commit cadence"},
          {"UPDATE_INTERVAL_MS", "0", "emit candles and updates this often between commits (0 = at commits only)"},
          {"GROUP_ID", "stream-processor", "consumer group; scale by adding instances"},
          {"TRANSACTIONAL_ID", "", "stable, unique per instance (default <GROUP_ID>-<host name>, e.g. the pod name)"},
          {"STATE_TOPIC", "crypto.processor-state",
           "window state per input partition, written in each transaction (compacted)"},
      });
  return cryptoflow::run_service(
      argc, argv, {"stream-processor", "Computes exact OHLCV candles on event time from crypto.trades.", vars}, run);
}
