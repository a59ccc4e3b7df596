#include "service.hpp"

#include "cryptoflow/kafka/consumer.hpp"
#include "cryptoflow/kafka/producer.hpp"
#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow::influx {

ServiceInfo service_info() {
  auto vars = common_vars();
  vars.insert(
      vars.end(),
      {
          {"INFLUX_URL", "http://localhost:8086", "InfluxDB base URL"},
          {"INFLUX_API", "v2", "v2 (/api/v2/write, token) or v1 (/write, db)"},
          {"INFLUX_TOKEN", "", "v2 API token (never logged)"},
          {"INFLUX_ORG", "crypto", "v2 organisation"},
          {"INFLUX_BUCKET", "crypto", "v2 bucket"},
          {"INFLUX_DB", "crypto", "v1 database (created at start if missing)"},
          {"INFLUX_USERNAME", "", "v1 user (basic auth)"},
          {"INFLUX_PASSWORD", "", "v1 password (never logged)"},
          {"INFLUX_GZIP", "true", "gzip request bodies (false on loopback: compressing costs more than it saves)"},
          {"INFLUX_BATCH_SIZE", "5000", "points per write"},
          {"INFLUX_FLUSH_INTERVAL_MS", "1000", "write a partial batch after this long"},
          {"SINK_TOPICS", "crypto.candles,crypto.indicators,crypto.tickers,crypto.books", "topics to write"},
          {"GROUP_ID", "influxdb-sink", "consumer group"},
      });
  vars.push_back(retry_after_max_var());
  return {"influxdb-sink", "Writes candles, indicators and tickers from Kafka to InfluxDB.", vars};
}

Options parse(const Config& config) {
  Options o;
  auto& io = o.influx;
  io.url = config.http_url("INFLUX_URL");
  o.http.retry_after_max = std::chrono::milliseconds(config.duration_ms("RETRY_AFTER_MAX"));
  io.api = config.choice("INFLUX_API", {"v2", "v1"});
  io.token = config.str("INFLUX_TOKEN");
  io.org = config.str("INFLUX_ORG");
  io.bucket = config.str("INFLUX_BUCKET");
  io.db = config.str("INFLUX_DB");
  io.username = config.str("INFLUX_USERNAME");
  io.password = config.str("INFLUX_PASSWORD");
  io.gzip = config.choice("INFLUX_GZIP", {"true", "false"}) == "true";
  if (io.api == "v2" && io.token.empty()) log_warn("INFLUX_TOKEN is empty: InfluxDB 2 will refuse writes");
  o.sink = sink::options_from_config(config, "INFLUX_BATCH_SIZE", "INFLUX_FLUSH_INTERVAL_MS");
  o.topics = {config.str("CANDLES_TOPIC"), config.str("INDICATORS_TOPIC"), config.str("TICKERS_TOPIC"),
              config.str("BOOKS_TOPIC")};
  o.kafka = kafka::Properties::from_config(config);
  return o;
}

int run(const Options& o, ServiceHost& host) {
  InfluxWriter writer(o.influx, o.http);
  if (const auto err = writer.ensure_database(); !err.empty())
    log_warn("could not create the InfluxDB database (writes will retry)", {{"db", o.influx.db}, {"error", err}});
  std::vector<TopicRequest> topics;
  for (const auto& t : o.sink.topics) topics.push_back({t, {}});
  host.ensure_topics(topics);
  kafka::KafkaConsumer input(o.kafka, o.sink.group_id);
  kafka::KafkaProducer dead_letters(o.kafka, host.metrics());
  InfluxDestination destination(o.topics, writer);
  sink::BatchSink sink(o.sink, {input, dead_letters}, destination, host.metrics());
  const auto ready = host.readiness().add("writes succeed", [&] { return sink.ready(); });
  log_info("sinking", {{"url", redact_url(writer.write_url())}, {"group", o.sink.group_id}});
  sink.run(host.stop_token());
  return 0;
}

}  // namespace cryptoflow::influx
