#pragma once
// binance-producer as a binary: its variables (--help), how they become options, and run().
#include <optional>
#include <string>
#include <vector>

#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/net/http.hpp"
#include "cryptoflow/runtime/service_host.hpp"
#include "live_feed.hpp"

namespace cryptoflow::binance {

struct Options {
  std::string stream;                        // trade or aggTrade
  std::optional<LiveOptions> live;           // live mode, or:
  std::string replay_file;                   // replay mode
  std::string replay_snapshots;              // replay: recorded REST depth answers (REPLAY_DEPTH_SNAPSHOTS)
  std::optional<DepthOptions> replay_depth;  // replay: books (REPLAY_DEPTH_SNAPSHOTS set, BINANCE_DEPTH not off)
  double replay_speed = 0;
  std::string topic;
  std::string books_topic;  // live with BINANCE_DEPTH on
  kafka::Properties kafka;
  HttpOptions http;                                       // for backfill over REST
  std::vector<std::string> symbols;                       // as they key the topic (upper case)
  std::chrono::milliseconds resume_lookback{86'400'000};  // live: where to look for each symbol's last trade; 0: do not
};

// The producer's librdkafka properties: message.timeout.ms is 0 (no limit), whatever was set. A
// trade handed to librdkafka stays queued until Kafka has it, however long the broker is away:
// the queue (queue.buffering.max.kbytes) is the bound; once it is full, produce() waits, the
// sockets are not read, and what the exchange sends meanwhile comes back by backfill.
kafka::Properties producer_properties(const kafka::Properties& configured);

// The live feed's REST calls over an HttpClient (which must outlive the result).
RestGet rest_over(HttpClient& http);

ServiceInfo service_info();
Options parse(const Config& config);
// Live: streams until a stop is requested. Replay: exits once the whole file is delivered.
int run(const Options& options, ServiceHost& host);

inline Service<Options> service() {
  return {service_info(), &parse, &run};
}

}  // namespace cryptoflow::binance
