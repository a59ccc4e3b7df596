// influxdb-sink: crypto.candles / crypto.indicators / crypto.tickers -> InfluxDB (line protocol).
#include <memory>

#include "cryptoflow/batch_sink.hpp"
#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/service.hpp"
#include "influx_destination.hpp"

namespace {
using namespace cryptoflow;

int run(const Config& config, const std::vector<std::string>& args) {
  if (!args.empty()) throw ConfigError("unknown argument " + args.front() + " (see --help)");
  influx::InfluxOptions io;
  io.url = config.http_url("INFLUX_URL");
  io.api = config.choice("INFLUX_API", {"v2", "v1"});
  io.token = config.str("INFLUX_TOKEN");
  io.org = config.str("INFLUX_ORG");
  io.bucket = config.str("INFLUX_BUCKET");
  io.db = config.str("INFLUX_DB");
  io.username = config.str("INFLUX_USERNAME");
  io.password = config.str("INFLUX_PASSWORD");
  io.gzip = config.choice("INFLUX_GZIP", {"true", "false"}) == "true";
  if (io.api == "v2" && io.token.empty()) log_warn("INFLUX_TOKEN is empty: InfluxDB 2 will refuse writes");

  const auto so = sink::options_from_config(config, "INFLUX_BATCH_SIZE", "INFLUX_FLUSH_INTERVAL_MS");
  const influx::TopicNames topics{config.str("CANDLES_TOPIC"), config.str("INDICATORS_TOPIC"),
                                  config.str("TICKERS_TOPIC")};
  const auto props = kafka::Properties::from_config(config);

  ShutdownSignal::install();
  MetricsRegistry metrics;
  influx::InfluxWriter writer(io);
  if (const auto err = writer.ensure_database(); !err.empty())
    log_warn("could not create the InfluxDB database (writes will retry)", {{"db", io.db}, {"error", err}});
  kafka::ensure_topics(config, props, so.topics);
  influx::InfluxDestination destination(topics, writer);
  sink::BatchSink sink(props, so, destination, metrics);
  const auto admin = start_admin_server(config, metrics, [&] { return sink.ready(); });
  log_info("sinking", {{"url", writer.write_url()}, {"group", so.group_id}});
  sink.run([] { return ShutdownSignal::requested(); });
  log_info("stopped cleanly");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  auto vars = cryptoflow::common_vars();
  vars.insert(vars.end(), {
                              {"INFLUX_URL", "http://localhost:8086", "InfluxDB base URL"},
                              {"INFLUX_API", "v2", "v2 (/api/v2/write, token) or v1 (/write, db)"},
                              {"INFLUX_TOKEN", "", "v2 API token (never logged)"},
                              {"INFLUX_ORG", "crypto", "v2 organisation"},
                              {"INFLUX_BUCKET", "crypto", "v2 bucket"},
                              {"INFLUX_DB", "crypto", "v1 database (created at start if missing)"},
                              {"INFLUX_USERNAME", "", "v1 user (basic auth)"},
                              {"INFLUX_PASSWORD", "", "v1 password (never logged)"},
                              {"INFLUX_GZIP", "true",
                               "gzip request bodies (false on loopback: compressing costs more than it saves)"},
                              {"INFLUX_BATCH_SIZE", "5000", "points per write"},
                              {"INFLUX_FLUSH_INTERVAL_MS", "1000", "write a partial batch after this long"},
                              {"SINK_TOPICS", "crypto.candles,crypto.indicators,crypto.tickers", "topics to write"},
                              {"GROUP_ID", "influxdb-sink", "consumer group"},
                          });
  return cryptoflow::run_service(
      argc, argv, {"influxdb-sink", "Writes candles, indicators and tickers from Kafka to InfluxDB.", vars}, run);
}
