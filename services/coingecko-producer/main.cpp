// coingecko-producer: CoinGecko /coins/markets snapshots -> crypto.tickers (key <coin>:<vs>).
#include "budget.hpp"
#include "client.hpp"
#include "cryptoflow/kafka.hpp"
#include "cryptoflow/log.hpp"
#include "cryptoflow/service.hpp"
#include "poller.hpp"

namespace {
using namespace cryptoflow;

int run(const Config& config, const std::vector<std::string>& args) {
  if (!args.empty()) throw ConfigError("unknown argument " + args.front() + " (see --help)");
  coingecko::ClientOptions co;
  co.base_url = config.http_url("COINGECKO_URL");
  co.plan = config.choice("COINGECKO_PLAN", {"demo", "pro"});
  co.api_key = config.str("COINGECKO_API_KEY");
  coingecko::PollerOptions po;
  po.ids = config.list("COINGECKO_IDS");
  po.top_n = static_cast<int>(config.integer("COINGECKO_TOP_N", 1, 10'000));
  po.vs_currencies = config.list("COINGECKO_VS_CURRENCIES");
  if (po.vs_currencies.empty()) throw ConfigError("COINGECKO_VS_CURRENCIES is empty");
  po.interval_ms = config.integer("COINGECKO_POLL_INTERVAL_S", 1, 86'400) * 1000;
  const auto calls_per_minute = static_cast<int>(config.integer("COINGECKO_CALLS_PER_MINUTE", 1, 100'000));
  const auto topic = config.str("TICKERS_TOPIC");
  const auto props = kafka::Properties::from_config(config);

  ShutdownSignal::install();
  MetricsRegistry metrics;
  kafka::ensure_topics(config, props, {topic});
  kafka::Producer producer(props, metrics);
  coingecko::SystemClock clock([] { return ShutdownSignal::requested(); });
  coingecko::CallBudget budget(calls_per_minute);
  coingecko::CoinGeckoClient client(co, clock, budget, metrics);
  coingecko::Poller poller(
      po, client, clock, [&](const Ticker& t) { producer.produce(topic, ticker_key(t), to_json(t), t.last_updated); },
      metrics);
  const auto admin = start_admin_server(config, metrics, [&] {
    return poller.ready() && kafka::cluster_reachable(producer.handle(), std::chrono::milliseconds(500));
  });
  log_info("polling",
           {{"url", co.base_url},
            {"plan", co.plan},
            {"key_set", !co.api_key.empty()},
            {"coins", po.ids.empty() ? "top " + std::to_string(po.top_n) : std::to_string(po.ids.size()) + " ids"},
            {"interval_s", po.interval_ms / 1000},
            {"calls_per_minute", calls_per_minute}});
  poller.run();
  log_info("stopping; flushing tickers");
  if (!producer.flush(std::chrono::seconds(30))) throw std::runtime_error("tickers not delivered within 30 s");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  auto vars = cryptoflow::common_vars();
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
  return cryptoflow::run_service(
      argc, argv, {"coingecko-producer", "Publishes CoinGecko market snapshots to Kafka (crypto.tickers).", vars}, run);
}
