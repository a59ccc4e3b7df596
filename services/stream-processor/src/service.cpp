#include "service.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>

#include "cryptoflow/kafka/consumer.hpp"
#include "cryptoflow/kafka/producer.hpp"
#include "cryptoflow/kafka/reader.hpp"
#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow::processor {
namespace {

// The pod name in Kubernetes (HOSTNAME), else the machine's.
std::string host_name(const Config& config) {
  if (auto it = config.env().find("HOSTNAME"); it != config.env().end() && !it->second.empty()) return it->second;
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
  return "local";
}

std::vector<Interval> parse_intervals(const Config& config) {
  std::vector<Interval> out;
  for (const auto& n : config.list("CANDLE_INTERVALS")) {
    const auto ms = parse_duration_ms(n);
    if (ms <= 0 || n.find("ms") != std::string::npos)
      throw ConfigError("CANDLE_INTERVALS: '" + n + "' is not an interval (e.g. 1m, 5m, 15m, 1h, 1d)");
    if (const auto error = interval_error(ms); !error.empty())
      throw ConfigError("CANDLE_INTERVALS: '" + n + "' " + error);
    if (std::any_of(out.begin(), out.end(), [&](const Interval& i) { return i.ms == ms; }))
      throw ConfigError("CANDLE_INTERVALS: '" + n + "' is listed twice");
    out.push_back({n, ms});
  }
  if (out.empty()) throw ConfigError("CANDLE_INTERVALS is empty");
  return out;
}

MovingAverage parse_moving_average(const Config& config) {
  const auto window = config.str("MA_WINDOW");
  const auto slide = config.str("MA_SLIDE");
  MovingAverage m{window, parse_duration_ms(window), parse_duration_ms(slide)};
  if (m.window_ms <= 0) throw ConfigError("MA_WINDOW: '" + window + "' is not a positive duration");
  if (m.slide_ms <= 0) throw ConfigError("MA_SLIDE: '" + slide + "' is not a positive duration");
  if (m.window_ms % m.slide_ms != 0)
    throw ConfigError("MA_SLIDE: '" + slide + "' does not divide MA_WINDOW '" + window + "'");
  return m;
}

// A librdkafka property the processor itself relies on (KAFKA_<NAME> in the environment), as a
// positive integer. librdkafka has checked its range already (Properties::from_config); this
// refuses what it reads differently ("2000000x" reads as 2000000 there).
long long positive_property(const kafka::Properties& props, const std::string& name, const std::string& fallback) {
  const auto text = props.get(name).value_or(fallback);
  char* end = nullptr;
  const auto value = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || value <= 0) {
    std::string var = "KAFKA_" + name;
    for (auto& c : var) c = c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    throw ConfigError(var + "='" + text + "' is not a positive integer");
  }
  return value;
}

}  // namespace

std::string pipeline_transactional_id(const std::string& transactional_id) {
  return transactional_id + ".1";
}

ServiceInfo service_info() {
  auto vars = common_vars();
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
          {"LIVE_UPDATE_INTERVAL_MS", "1000",
           "emit each open window that changed at most this often as a final=false update (0 = at every emit)"},
          {"GROUP_ID", "stream-processor", "consumer group; scale by adding instances"},
          {"TRANSACTIONAL_ID", "",
           "stable, unique per instance (default <GROUP_ID>-<host name>, e.g. the pod name); exactly_once also uses "
           "<TRANSACTIONAL_ID>.1 for the pipelined commits"},
          {"STATIC_MEMBERSHIP", "true",
           "join the group as a static member (group.instance.id = TRANSACTIONAL_ID): a restarted instance takes "
           "its partitions back at once; one that stops keeps them until KAFKA_SESSION_TIMEOUT_MS"},
          {"STATE_TOPIC", "crypto.processor-state",
           "window state per input partition, written in each transaction (compacted)"},
          {"MAX_CLOCK_SKEW", "5m",
           "a trade stamped further ahead of the wall clock goes to dead-letter and moves no watermark"},
          {"STATE_EVICT_AFTER", "24h", "a symbol without a trade for this long (event time) is evicted; 0 keeps all"},
          {"STATE_REFRESH_BYTES", "2097152",
           "rewrite every unchanged symbol within about this many bytes of state writes, so a state topic "
           "that keeps only its newest bytes keeps them all; 0 for a compacted topic"},
      });
  return {"stream-processor", "Computes exact OHLCV candles on event time from crypto.trades.", vars};
}

Options parse(const Config& config) {
  Options o;
  auto& p = o.processor;
  p.engine.intervals = parse_intervals(config);
  p.engine.allowed_lateness_ms = config.duration_ms("ALLOWED_LATENESS");
  p.engine.idle_timeout_ms = config.duration_ms("IDLE_TIMEOUT");
  p.engine.sma = parse_moving_average(config);
  p.exactly_once = config.choice("PROCESSING_GUARANTEE", {"exactly_once", "at_least_once"}) == "exactly_once";
  p.commit_interval = std::chrono::milliseconds(config.integer("COMMIT_INTERVAL_MS", 1, 600'000));
  p.max_clock_skew_ms = config.duration_ms("MAX_CLOCK_SKEW");
  p.evict_after_ms = config.duration_ms("STATE_EVICT_AFTER");
  p.refresh_bytes = config.integer("STATE_REFRESH_BYTES", 0, std::int64_t{1} << 40);
  p.update_interval = std::chrono::milliseconds(config.integer("UPDATE_INTERVAL_MS", 0, 600'000));
  p.live_update_interval = std::chrono::milliseconds(config.integer("LIVE_UPDATE_INTERVAL_MS", 0, 600'000));
  p.group_id = config.str("GROUP_ID");
  p.trades_topic = config.str("TRADES_TOPIC");
  p.candles_topic = config.str("CANDLES_TOPIC");
  p.indicators_topic = config.str("INDICATORS_TOPIC");
  p.late_topic = config.str("LATE_TRADES_TOPIC");
  p.dead_letter_topic = config.str("DEAD_LETTER_TOPIC");
  p.state_topic = config.str("STATE_TOPIC");
  p.transactional_id = config.str("TRANSACTIONAL_ID");
  if (p.transactional_id.empty()) p.transactional_id = p.group_id + "-" + host_name(config);
  if (config.choice("STATIC_MEMBERSHIP", {"true", "false"}) == "true") o.group_instance_id = p.transactional_id;
  o.kafka = kafka::Properties::from_config(config);
  // A transaction stays open for a whole commit interval; the coordinator aborts one that stays
  // open past transaction.timeout.ms. Keep the interval a small part of it.
  const auto txn_ms = positive_property(o.kafka, "transaction.timeout.ms", "60000");
  p.transaction_timeout = std::chrono::milliseconds(txn_ms);
  // A restore waits for transactions still open on the state partition; the coordinator aborts a
  // dead writer's after the transaction timeout.
  p.restore_timeout = p.transaction_timeout + std::chrono::seconds(30);
  // A state record is one symbol's state, never more with more symbols; the options estimate it
  // (a partition that trails holds the watermark back and keeps more windows open: docs/processing.md).
  const auto max_bytes = positive_property(o.kafka, "message.max.bytes", "1000000");
  const auto record = static_cast<long long>(CandleEngine::max_symbol_snapshot_bytes(p.engine, p.max_clock_skew_ms));
  if (record > max_bytes / 4)
    throw ConfigError("CANDLE_INTERVALS / ALLOWED_LATENESS / MAX_CLOCK_SKEW: one symbol's state may take " +
                      std::to_string(record) + " bytes (that many windows open at once), over a quarter of " +
                      "KAFKA_MESSAGE_MAX_BYTES (" + std::to_string(max_bytes) +
                      "): use longer intervals or less lateness");
  if (p.exactly_once && p.commit_interval.count() * 10 > txn_ms)
    throw ConfigError("COMMIT_INTERVAL_MS=" + std::to_string(p.commit_interval.count()) +
                      " must be at most a tenth of the transaction timeout (KAFKA_TRANSACTION_TIMEOUT_MS, " +
                      std::to_string(txn_ms) + " ms): each commit interval is one open transaction");
  return o;
}

int run(const Options& o, ServiceHost& host) {
  const auto& p = o.processor;
  host.ensure_topics({{p.trades_topic, {}},
                      {p.candles_topic, {}},
                      {p.indicators_topic, {}},
                      {p.late_topic, {}},
                      {p.dead_letter_topic, {}},
                      {p.state_topic, {{"cleanup.policy", "compact"}}}});
  auto consumer_props = o.kafka;
  if (!o.group_instance_id.empty()) consumer_props.set("group.instance.id", o.group_instance_id);
  kafka::KafkaConsumer input(consumer_props, p.group_id);
  kafka::KafkaProducer output(o.kafka, host.metrics(), p.exactly_once ? p.transactional_id : std::string());
  // exactly_once: a second transactional producer (<TRANSACTIONAL_ID>.1) pipelines the commits.
  std::optional<kafka::KafkaProducer> pipeline;
  if (p.exactly_once) pipeline.emplace(o.kafka, host.metrics(), pipeline_transactional_id(p.transactional_id));
  kafka::KafkaReader state(o.kafka, "cryptoflow-state-reader");
  const std::vector<std::string> outputs{p.candles_topic, p.indicators_topic, p.state_topic, p.late_topic,
                                         p.dead_letter_topic};
  (void)output.warm_up(outputs, std::chrono::seconds(10), host.stop_token());
  if (pipeline) (void)pipeline->warm_up(outputs, std::chrono::seconds(10), host.stop_token());
  StreamProcessor processor(p, {input, output, state, pipeline ? &*pipeline : nullptr}, host.metrics());
  const auto ready = host.readiness().add("partitions restored", [&] { return processor.ready(); });
  log_info("processing", {{"group", p.group_id},
                          {"topic", p.trades_topic},
                          {"guarantee", p.exactly_once ? "exactly_once" : "at_least_once"},
                          {"transactional_id", p.exactly_once ? p.transactional_id : std::string("-")},
                          {"pipeline_transactional_id",
                           p.exactly_once ? pipeline_transactional_id(p.transactional_id) : std::string("-")},
                          {"group_instance_id", o.group_instance_id.empty() ? std::string("-") : o.group_instance_id}});
  try {
    processor.run(host.stop_token());
  } catch (...) {
    // Exit within seconds: what was not delivered belongs to a transaction that will never be
    // committed (or, at_least_once, to input that will be read again).
    output.purge();
    if (pipeline) pipeline->purge();
    throw;
  }
  return 0;
}

}  // namespace cryptoflow::processor
