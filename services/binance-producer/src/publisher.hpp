#pragma once
// Turns frames into crypto.trades records (key = symbol, timestamp = trade time) and counts
// what it saw. Shared by replay and live modes.
#include <string>

#include "cryptoflow/kafka/client.hpp"
#include "cryptoflow/messages/book.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "cryptoflow/runtime/metrics.hpp"
#include "frame_decoder.hpp"

namespace cryptoflow::binance {

class Publisher {
 public:
  Publisher(kafka::Producer& producer, std::string topic, MetricsRegistry& metrics, std::string books_topic = {});
  // Decodes and publishes one frame; returns the decoded kind.
  FrameKind publish_frame(std::string_view frame, std::int64_t received_ms) {
    return publish(decode_frame(frame, received_ms));
  }
  // Publishes a frame decoded already (counted as one frame read).
  FrameKind publish(const DecodedFrame& d);
  // The two halves of publish(): count a frame by kind (and its receive latency), publish a trade.
  void count(const DecodedFrame& d);
  void publish_trade(const Trade& t);
  // A crypto.books record (key = symbol, timestamp = its event time).
  void publish_book(const BookRecord& r);

 private:
  kafka::Producer& producer_;
  std::string topic_, books_topic_;
  std::string book_buffer_;
  Counter& frames_;
  Counter& trades_;
  Counter& ignored_;
  Counter& malformed_;
  Counter& invalid_;
  Histogram& latency_;
  RateLimitedLog malformed_log_;
  RateLimitedLog invalid_log_;
};

}  // namespace cryptoflow::binance
