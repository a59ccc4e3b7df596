#pragma once
// Client properties for tests against an in-process DevBroker (librdkafka's mock cluster).
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/messages.hpp"
#include "dev_broker.hpp"

namespace cryptoflow::test {

inline kafka::Properties props_for(const DevBroker& b) {
  kafka::Properties p;
  // The mock broker completes a rebalance only when a silent member's session expires: keep
  // sessions short in tests (production keeps librdkafka's default).
  p.set("bootstrap.servers", b.bootstrap_servers())
      .set("fetch.wait.max.ms", "5")
      .set("session.timeout.ms", "6000")
      .set("heartbeat.interval.ms", "500");
  return p;
}

// A sample final 1m candle.
inline Candle sample_candle(const char* symbol, std::int64_t start) {
  Candle c;
  c.source = "binance";
  c.symbol = symbol;
  c.interval = "1m";
  c.start = start;
  c.end = start + 60'000;
  c.open = c.high = c.low = c.close = c.vwap = *Decimal::parse("1.25");
  c.volume = c.quote_volume = c.taker_buy_volume = *Decimal::parse("2");
  c.trades = 1;
  c.final = true;
  return c;
}

// The value of a record's header, or empty.
inline std::string header_of(const rd_kafka_message_t& m, const char* name) {
  rd_kafka_headers_t* h = nullptr;
  if (rd_kafka_message_headers(&m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* v = nullptr;
  size_t n = 0;
  if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return std::string(static_cast<const char*>(v), n);
}

// Reads `topic` from the beginning in a fresh group until `count` records arrived or 30 s passed;
// returns their `error` headers (the dead-letter reason).
inline std::vector<std::string> dead_letter_errors(const DevBroker& broker, const std::string& topic,
                                                   std::size_t count) {
  kafka::Consumer c(props_for(broker), "test-dead-letter-reader", {topic});
  std::vector<std::string> errors;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (errors.size() < count && std::chrono::steady_clock::now() < deadline)
    if (auto m = c.poll(20)) errors.push_back(header_of(*m, "error"));
  return errors;
}

// Runs a service loop (anything with run(stop)) on a thread until the scope ends.
class Running {
 public:
  template <class Service>
  explicit Running(Service& s) : thread_([this, &s] { s.run([this] { return stop_.load(); }); }) {}
  ~Running() {
    stop_ = true;
    thread_.join();
  }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace cryptoflow::test
