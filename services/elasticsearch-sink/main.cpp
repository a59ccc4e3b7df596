// elasticsearch-sink: crypto.candles / crypto.indicators / crypto.tickers -> Elasticsearch (_bulk).
#include <thread>

#include "cryptoflow/batch_sink.hpp"
#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/service.hpp"
#include "es_destination.hpp"

namespace {
using namespace cryptoflow;

int run(const Config& config, const std::vector<std::string>& args) {
  if (!args.empty()) throw ConfigError("unknown argument " + args.front() + " (see --help)");
  elastic::EsOptions eo;
  eo.url = config.http_url("ES_URL");
  eo.username = config.str("ES_USERNAME");
  eo.password = config.str("ES_PASSWORD");
  eo.api_key = config.str("ES_API_KEY");
  eo.index_prefix = config.str("ES_INDEX_PREFIX");
  if (eo.index_prefix.empty() || eo.index_prefix.find_first_of("/\\*?\"<>| ,#:") != std::string::npos ||
      eo.index_prefix != [&] {
        std::string lower = eo.index_prefix;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return lower;
      }())
    throw ConfigError("ES_INDEX_PREFIX='" + eo.index_prefix + "' is not a valid lower-case index name prefix");
  const auto so = sink::options_from_config(config, "ES_BULK_ACTIONS", "ES_FLUSH_INTERVAL_MS");
  const elastic::TopicNames topics{config.str("CANDLES_TOPIC"), config.str("INDICATORS_TOPIC"),
                                   config.str("TICKERS_TOPIC")};
  const auto props = kafka::Properties::from_config(config);

  ShutdownSignal::install();
  MetricsRegistry metrics;
  elastic::EsDestination destination(eo, topics);
  std::atomic<bool> templates_ready{false};
  sink::BatchSink* running = nullptr;
  const auto admin =
      start_admin_server(config, metrics, [&] { return templates_ready && running && running->ready(); });
  // Templates first: documents indexed before them would get dynamic mappings.
  for (auto backoff = std::chrono::milliseconds(500);;
       backoff = std::min(backoff * 2, std::chrono::milliseconds(30'000))) {
    const auto err = destination.install_templates();
    if (err.empty()) break;
    log_warn("cannot install the index templates yet; retrying", {{"error", err}, {"retry_in_ms", backoff.count()}});
    for (auto until = std::chrono::steady_clock::now() + backoff; std::chrono::steady_clock::now() < until;) {
      if (ShutdownSignal::requested()) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  templates_ready = true;
  kafka::ensure_topics(config, props, so.topics);
  sink::BatchSink sink(props, so, destination, metrics);
  running = &sink;
  log_info("sinking", {{"url", eo.url}, {"index_prefix", eo.index_prefix}, {"group", so.group_id}});
  sink.run([] { return ShutdownSignal::requested(); });
  running = nullptr;
  log_info("stopped cleanly");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  auto vars = cryptoflow::common_vars();
  vars.insert(vars.end(),
              {
                  {"ES_URL", "http://localhost:9200", "Elasticsearch base URL"},
                  {"ES_USERNAME", "", "basic auth user"},
                  {"ES_PASSWORD", "", "basic auth password (never logged)"},
                  {"ES_API_KEY", "", "API key, sent as 'Authorization: ApiKey' (never logged)"},
                  {"ES_INDEX_PREFIX", "crypto", "indices <prefix>-candles, <prefix>-tickers, <prefix>-indicators"},
                  {"ES_BULK_ACTIONS", "2000", "documents per _bulk request"},
                  {"ES_FLUSH_INTERVAL_MS", "1000", "send a partial bulk after this long"},
                  {"SINK_TOPICS", "crypto.candles,crypto.indicators,crypto.tickers", "topics to index"},
                  {"GROUP_ID", "elasticsearch-sink", "consumer group"},
              });
  return cryptoflow::run_service(
      argc, argv,
      {"elasticsearch-sink", "Indexes candles, indicators and tickers from Kafka into Elasticsearch.", vars}, run);
}
