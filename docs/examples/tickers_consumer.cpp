// How a team reads crypto.tickers with cryptoflow's library (docs/consuming-tickers.md).
// Usage: KAFKA_BOOTSTRAP_SERVERS=host:9092 tickers_consumer [count]
#include <cstdlib>
#include <iostream>
#include <string>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/messages/messages.hpp"

int main(int argc, char** argv) {
  using namespace cryptoflow;
  const long count = argc > 1 ? std::atol(argv[1]) : -1;         // -1: forever
  const char* brokers = std::getenv("KAFKA_BOOTSTRAP_SERVERS");  // NOLINT(concurrency-mt-unsafe): one thread yet
  kafka::Properties props;
  props.set("bootstrap.servers", brokers ? brokers : "localhost:9092");

  // --- the five lines ---
  kafka::KafkaConsumer consumer(props, "my-team-tickers", {"crypto.tickers"});
  for (long n = 0; n != count;)
    if (auto record = consumer.poll(std::chrono::seconds(1)))
      if (auto t = decode_ticker(record->value); t && ++n)
        std::cout << t.value->coin << ' ' << t.value->vs_currency << ' '
                  << (t.value->price ? t.value->price->to_string() : "null") << '\n';
  return 0;
}
