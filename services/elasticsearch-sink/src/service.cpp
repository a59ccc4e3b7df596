#include "service.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>

#include "cryptoflow/kafka/consumer.hpp"
#include "cryptoflow/kafka/producer.hpp"
#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow::elastic {

ServiceInfo service_info() {
  auto vars = common_vars();
  vars.insert(vars.end(),
              {
                  {"ES_URL", "http://localhost:9200", "Elasticsearch base URL"},
                  {"ES_USERNAME", "", "basic auth user"},
                  {"ES_PASSWORD", "", "basic auth password (never logged)"},
                  {"ES_API_KEY", "", "API key, sent as 'Authorization: ApiKey' (never logged)"},
                  {"ES_INDEX_PREFIX", "crypto", "indices <prefix>-candles, <prefix>-tickers, <prefix>-indicators"},
                  {"ES_BULK_ACTIONS", "2000", "documents per _bulk request"},
                  {"ES_BULK_BYTES", "5242880",
                   "a _bulk request is sent once its NDJSON reaches this many bytes (5 MiB; Elastic advises 5-15 MB)"},
                  {"ES_FLUSH_INTERVAL_MS", "1000", "send a partial bulk after this long"},
                  {"SINK_TOPICS", "crypto.candles,crypto.indicators,crypto.tickers", "topics to index"},
                  {"GROUP_ID", "elasticsearch-sink", "consumer group"},
              });
  vars.push_back(retry_after_max_var());
  return {"elasticsearch-sink", "Indexes candles, indicators and tickers from Kafka into Elasticsearch.", vars};
}

Options parse(const Config& config) {
  Options o;
  auto& eo = o.es;
  eo.url = config.http_url("ES_URL");
  o.http.retry_after_max = std::chrono::milliseconds(config.duration_ms("RETRY_AFTER_MAX"));
  eo.username = config.str("ES_USERNAME");
  eo.password = config.str("ES_PASSWORD");
  eo.api_key = config.str("ES_API_KEY");
  eo.index_prefix = config.str("ES_INDEX_PREFIX");
  const bool lower = std::none_of(eo.index_prefix.begin(), eo.index_prefix.end(),
                                  [](char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; });
  // Elasticsearch's index-name rules: lower case, none of \ / * ? " < > | space , # :, not
  // starting with - _ +, at most 255 bytes (with "-indicators" appended).
  if (eo.index_prefix.empty() || eo.index_prefix.find_first_of("/\\*?\"<>| ,#:") != std::string::npos || !lower ||
      eo.index_prefix.find_first_of("-_+") == 0 || eo.index_prefix == "." || eo.index_prefix == ".." ||
      eo.index_prefix.size() > 255 - std::string_view("-indicators").size())
    throw ConfigError("ES_INDEX_PREFIX='" + eo.index_prefix +
                      "' is not a valid index name prefix: lower case, not starting with - _ +, none of "
                      "\\ / * ? \" < > | , # : or a space, at most 244 characters");
  o.sink = sink::options_from_config(config, "ES_BULK_ACTIONS", "ES_FLUSH_INTERVAL_MS");
  o.sink.batch_bytes = static_cast<std::size_t>(config.integer("ES_BULK_BYTES", 1024, std::int64_t{1} << 31));
  o.topics = {config.str("CANDLES_TOPIC"), config.str("INDICATORS_TOPIC"), config.str("TICKERS_TOPIC")};
  o.kafka = kafka::Properties::from_config(config);
  return o;
}

int run(const Options& o, ServiceHost& host) {
  EsDestination destination(o.es, o.topics, o.http);
  // Templates first: documents indexed before them would get dynamic mappings.
  std::atomic<bool> templates_ready{false};
  const auto templates = host.readiness().add("index templates", [&] { return templates_ready.load(); });
  for (auto backoff = std::chrono::milliseconds(500);;
       backoff = std::min(backoff * 2, std::chrono::milliseconds(30'000))) {
    const auto err = destination.install_templates();
    if (err.empty()) break;
    log_warn("cannot install the index templates yet; retrying", {{"error", err}, {"retry_in_ms", backoff.count()}});
    if (!host.sleep_for(backoff)) return 0;
  }
  templates_ready = true;
  std::vector<TopicRequest> topics;
  for (const auto& t : o.sink.topics) topics.push_back({t, {}});
  host.ensure_topics(topics);
  kafka::KafkaConsumer input(o.kafka, o.sink.group_id);
  kafka::KafkaProducer dead_letters(o.kafka, host.metrics());
  sink::BatchSink sink(o.sink, {input, dead_letters}, destination, host.metrics());
  const auto ready = host.readiness().add("writes succeed", [&] { return sink.ready(); });
  log_info("sinking", {{"url", redact_url(o.es.url)}, {"index_prefix", o.es.index_prefix}, {"group", o.sink.group_id}});
  sink.run(host.stop_token());
  return 0;
}

}  // namespace cryptoflow::elastic
