#pragma once
// Helpers for tests against an in-process DevBroker (librdkafka's mock cluster on loopback).
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/messages/messages.hpp"
#include "dev-broker/src/dev_broker.hpp"

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

// produce() with positional arguments, for brevity in tests.
inline void produce(kafka::Producer& p, std::string_view topic, std::string_view key, std::string_view value,
                    std::int64_t timestamp = 0, const std::vector<kafka::Header>& headers = {}) {
  p.produce({.topic = topic, .key = key, .value = value, .timestamp = timestamp, .headers = headers});
}

// Reads until `count` records arrived or the timeout passed.
inline std::vector<kafka::Record> consume(kafka::Consumer& c, std::size_t count,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  std::vector<kafka::Record> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline)
    if (auto r = c.poll(std::chrono::milliseconds(50))) out.push_back(std::move(*r));
  return out;
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
inline std::string header_of(const kafka::Record& r, std::string_view name) {
  return std::string(r.header(name).value_or(""));
}

// Reads `topic` from the beginning in a fresh group until `count` records arrived or 30 s passed;
// returns their `error` headers (the dead-letter reason).
inline std::vector<std::string> dead_letter_errors(const DevBroker& broker, const std::string& topic,
                                                   std::size_t count) {
  kafka::KafkaConsumer c(props_for(broker), "test-dead-letter-reader", {topic});
  std::vector<std::string> errors;
  for (const auto& r : consume(c, count, std::chrono::seconds(30))) errors.push_back(header_of(r, "error"));
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
