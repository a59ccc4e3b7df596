#pragma once
// InfluxDB as a sink destination: candles, indicators and tickers become line protocol, and
// crypto.books a top-of-book point per symbol and second; a batch InfluxDB refuses (400) is split
// until the refused record is isolated.
#include <map>
#include <string>

#include "cryptoflow/messages/book.hpp"
#include "cryptoflow/sink/batch_sink.hpp"
#include "influx_writer.hpp"

namespace cryptoflow::influx {

struct TopicNames {  // which topic carries which message
  std::string candles = "crypto.candles";
  std::string indicators = "crypto.indicators";
  std::string tickers = "crypto.tickers";
  std::string books = "crypto.books";
};

// crypto.books as a bounded-rate measurement: each symbol's book rebuilt with BookReader (the
// reader's rule: nothing while it is not good), and a point with its best levels at the first
// record of each second of update time, stamped with that second: at most one point per symbol
// per second however fast the book moves. A replay writes the same points again (same series,
// same time). After a restart a book is not good until the producer's next periodic snapshot.
class TopOfBookSampler {
 public:
  // Appends a point when one is due; returns an error text for an undecodable record.
  std::string encode(std::string_view value, std::string& lines);

 private:
  struct Held {
    BookReader reader;
    std::int64_t second = -1;  // of the last point written
  };
  std::map<std::string, Held, std::less<>> books_;
};

// Encodes one record of `topic` as a line; returns an error text for undecodable records.
std::string encode_record(const TopicNames& topics, const std::string& topic, std::string_view value,
                          std::string& lines);

class InfluxDestination final : public sink::Destination {
 public:
  InfluxDestination(TopicNames topics, InfluxWriter& writer) : topics_(std::move(topics)), writer_(writer) {}
  std::string encode(const std::string& topic, std::string_view value, std::string& body) override {
    if (topic == topics_.books) return books_.encode(value, body);
    return encode_record(topics_, topic, value, body);
  }
  sink::WriteOutcome write(const std::string& body, const std::vector<sink::Slice>& slices) override;

 private:
  void write_range(const std::string& body, const std::vector<sink::Slice>& slices, std::size_t lo, std::size_t hi,
                   sink::WriteOutcome& out);
  TopicNames topics_;
  TopOfBookSampler books_;  // encode's side only
  InfluxWriter& writer_;
};

}  // namespace cryptoflow::influx
