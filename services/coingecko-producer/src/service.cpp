#include "service.hpp"

#include "budget.hpp"
#include "cryptoflow/kafka/producer.hpp"
#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow::coingecko {

ServiceInfo service_info() {
  auto vars = common_vars();
  vars.insert(vars.end(), {
                              {"COINGECKO_URL", "https://api.coingecko.com/api/v3", "API base URL"},
                              {"COINGECKO_PLAN", "demo", "demo or pro: selects x-cg-demo-api-key or x-cg-pro-api-key"},
                              {"COINGECKO_API_KEY", "", "API key (never logged)"},
                              {"COINGECKO_IDS", "", "coin ids; when empty, the top COINGECKO_TOP_N by market cap"},
                              {"COINGECKO_TOP_N", "50", "coins by market cap when COINGECKO_IDS is empty"},
                              {"COINGECKO_VS_CURRENCIES", "usd,eur", "one snapshot per coin and currency"},
                              {"COINGECKO_POLL_INTERVAL_S", "60", "seconds between polls (aligned schedule)"},
                              {"COINGECKO_CALLS_PER_MINUTE", "30", "hard budget for all requests, retries included"},
                          });
  vars.push_back(retry_after_max_var());
  return {"coingecko-producer", "Publishes CoinGecko market snapshots to Kafka (crypto.tickers).", vars};
}

Options parse(const Config& config) {
  Options o;
  o.client.base_url = config.http_url("COINGECKO_URL");
  o.client.plan = config.choice("COINGECKO_PLAN", {"demo", "pro"});
  o.client.retry_after_max = std::chrono::milliseconds(config.duration_ms("RETRY_AFTER_MAX"));
  o.client.api_key = config.str("COINGECKO_API_KEY");
  o.poller.ids = config.list("COINGECKO_IDS");
  o.poller.top_n = static_cast<int>(config.integer("COINGECKO_TOP_N", 1, 10'000));
  o.poller.vs_currencies = config.list("COINGECKO_VS_CURRENCIES");
  if (o.poller.vs_currencies.empty()) throw ConfigError("COINGECKO_VS_CURRENCIES is empty");
  o.poller.interval_ms = config.integer("COINGECKO_POLL_INTERVAL_S", 1, 86'400) * 1000;
  o.calls_per_minute = static_cast<int>(config.integer("COINGECKO_CALLS_PER_MINUTE", 1, 100'000));
  o.topic = config.str("TICKERS_TOPIC");
  o.kafka = kafka::Properties::from_config(config);
  return o;
}

int run(const Options& o, ServiceHost& host) {
  host.ensure_topics({{o.topic, {}}});
  kafka::KafkaProducer producer(o.kafka, host.metrics());
  SystemClock clock(host.stop_token());
  CallBudget budget(o.calls_per_minute);
  CoinGeckoClient client(o.client, clock, budget, host.metrics());
  Poller poller(
      o.poller, client, clock,
      [&](const Ticker& t) {
        const auto key = ticker_key(t);
        const auto value = to_json(t);
        producer.produce({.topic = o.topic, .key = key, .value = value, .timestamp = t.last_updated});
      },
      host.metrics());
  const auto polling = host.readiness().add("coingecko answers", [&] { return poller.ready(); });
  const auto kafka_ready =
      host.readiness().add("kafka reachable", [&] { return producer.reachable(std::chrono::milliseconds(500)); });
  log_info("polling", {{"url", redact_url(o.client.base_url)},
                       {"plan", o.client.plan},
                       {"key_set", !o.client.api_key.empty()},
                       {"coins", o.poller.ids.empty() ? "top " + std::to_string(o.poller.top_n)
                                                      : std::to_string(o.poller.ids.size()) + " ids"},
                       {"interval_s", o.poller.interval_ms / 1000},
                       {"calls_per_minute", o.calls_per_minute}});
  poller.run();
  log_info("stopping; flushing tickers");
  producer.flush(std::chrono::seconds(30));
  return 0;
}

}  // namespace cryptoflow::coingecko
