#include "influx_destination.hpp"

#include "line_protocol.hpp"

namespace cryptoflow::influx {

std::string encode_record(const TopicNames& t, const std::string& topic, std::string_view value, std::string& lines) {
  auto encode = [&](auto decoded) -> std::string {
    if (!decoded) return decoded.error;
    append_line(lines, *decoded.value);
    return {};
  };
  if (topic == t.candles) return encode(decode_candle(value));
  if (topic == t.indicators) return encode(decode_indicator(value));
  if (topic == t.tickers) return encode(decode_ticker(value));
  return "no InfluxDB measurement for topic " + topic;
}

std::string TopOfBookSampler::encode(std::string_view value, std::string& lines) {
  auto decoded = decode_book_record(value);
  if (!decoded) return decoded.error;
  const auto& r = *decoded.value;
  auto& held = books_[r.symbol];
  held.reader.apply(r);
  if (!held.reader.good()) return {};
  const auto second = r.event_time / 1000;
  if (second == held.second) return {};
  held.second = second;
  const auto& book = held.reader.book();
  TopOfBook top{r.source, r.symbol, held.reader.id(), second * 1000, std::nullopt, std::nullopt};
  if (!book.bids().empty()) top.bid = PriceLevel{book.bids().begin()->first, book.bids().begin()->second};
  if (!book.asks().empty()) top.ask = PriceLevel{book.asks().begin()->first, book.asks().begin()->second};
  append_line(lines, top);
  return {};
}

sink::WriteOutcome InfluxDestination::write(const std::string& body, const std::vector<sink::Slice>& slices) {
  sink::WriteOutcome out;
  out.items.resize(slices.size());
  if (!slices.empty()) write_range(body, slices, 0, slices.size(), out);
  return out;
}

void InfluxDestination::write_range(const std::string& body, const std::vector<sink::Slice>& slices, std::size_t lo,
                                    std::size_t hi, sink::WriteOutcome& out) {
  std::string scratch;
  const auto lines = sink::joined(body, slices, lo, hi, scratch);
  if (lines.empty()) return;  // only records that make no point (book updates within a second)
  const auto r = writer_.write(lines);
  if (r.status == WriteStatus::ok) return;  // items default to written
  if (r.status == WriteStatus::retry || hi - lo == 1) {
    const auto d = r.status == WriteStatus::retry ? sink::Disposition::retry : sink::Disposition::rejected;
    for (std::size_t i = lo; i < hi; ++i) out.items[i] = {d, "influxdb rejected: " + r.message};
    out.http_status = r.http_status;
    out.error = r.message;
    if (r.retry_after) out.retry_after = r.retry_after;
    return;
  }
  // 400 for a batch: split it until the refused records are isolated; InfluxDB overwrites
  // the points it already took, so writing them again is harmless.
  const auto mid = lo + (hi - lo) / 2;
  write_range(body, slices, lo, mid, out);
  write_range(body, slices, mid, hi, out);
}

}  // namespace cryptoflow::influx
