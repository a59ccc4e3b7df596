#pragma once
#include <optional>
#include <string_view>
// gateway as a binary: its variables (--help), how they become options, and run().
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/runtime/service_host.hpp"
#include "feed.hpp"
#include "server.hpp"
#include "store.hpp"

namespace cryptoflow::gateway {

struct Options {
  ServerOptions server;
  FeedOptions feed;
  BrowserOptions browser;
  InfluxHistoryOptions history;
  std::string dead_letter_topic;
  StoreLimits limits;
  TradeLimits trades;
  std::size_t max_books = 2000;    // GATEWAY_MAX_BOOKS
  std::size_t max_memory = 0;      // GATEWAY_MAX_MEMORY, bytes
  std::size_t derived_series = 0;  // GATEWAY_MAX_SERIES lowered to this to fit it (0: not lowered)
  std::string static_dir;
  kafka::Properties kafka;
};

// "512Mi", "1Gi", "800M", "65536": bytes (Kubernetes' binary and decimal suffixes); nullopt if not one.
std::optional<std::size_t> parse_bytes(std::string_view text);
// Fits the held candles, trades and kept events within max_memory: the hub keeps an eighth, the
// trades an eighth, the candles five eighths (the rest is Kafka's buffers, the page, the clients'
// requests); GATEWAY_MAX_SERIES is lowered when its candles would not fit, the symbols whose
// trades are held are bounded by what fits.
void fit_memory(Options& o);

ServiceInfo service_info();
Options parse(const Config& config);
int run(const Options& options, ServiceHost& host);

inline Service<Options> service() {
  return {service_info(), &parse, &run};
}

}  // namespace cryptoflow::gateway
