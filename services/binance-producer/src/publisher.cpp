#include "publisher.hpp"

namespace cryptoflow::binance {

Publisher::Publisher(kafka::Producer& producer, std::string topic, MetricsRegistry& m, std::string books_topic)
    : producer_(producer),
      topic_(std::move(topic)),
      books_topic_(std::move(books_topic)),
      frames_(m.counter("cryptoflow_binance_frames_total", "WebSocket frames (or replayed lines) read")),
      trades_(m.counter("cryptoflow_binance_trades_total", "Trades published to the trades topic")),
      ignored_(m.counter("cryptoflow_binance_ignored_frames_total", "Valid frames that are not trades")),
      malformed_(m.counter("cryptoflow_binance_decode_errors_total", "Frames that could not be decoded",
                           {{"kind", "malformed"}})),
      invalid_(m.counter("cryptoflow_binance_decode_errors_total", "Frames that could not be decoded",
                         {{"kind", "invalid_trade"}})),
      latency_(m.histogram("cryptoflow_binance_receive_latency_ms", "Exchange event time to receive time",
                           latency_buckets_ms())) {}

void Publisher::publish_trade(const Trade& t) {
  const auto value = to_json(t);
  producer_.produce({.topic = topic_, .key = t.symbol, .value = value, .timestamp = t.trade_time});
  trades_.inc();
}

void Publisher::publish_book(const BookRecord& r) {
  book_buffer_.clear();
  append_json(book_buffer_, r);
  producer_.produce({.topic = books_topic_, .key = r.symbol, .value = book_buffer_, .timestamp = r.event_time});
}

FrameKind Publisher::publish(const DecodedFrame& d) {
  count(d);
  if (d.kind == FrameKind::trade) publish_trade(d.trade);
  return d.kind;
}

void Publisher::count(const DecodedFrame& d) {
  frames_.inc();
  switch (d.kind) {
    case FrameKind::trade: latency_.observe(static_cast<double>(d.trade.received_time - d.trade.event_time)); break;
    case FrameKind::ignored:
    case FrameKind::server_shutdown: ignored_.inc(); break;
    case FrameKind::malformed:
      malformed_.inc();
      malformed_log_(LogLevel::warn, "malformed frame", {{"error", d.error}});
      break;
    case FrameKind::invalid:
      invalid_.inc();
      invalid_log_(LogLevel::warn, "invalid trade event", {{"error", d.error}});
      break;
  }
}

}  // namespace cryptoflow::binance
