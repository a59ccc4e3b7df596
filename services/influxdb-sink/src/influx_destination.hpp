#pragma once
// InfluxDB as a sink destination: candles, indicators and tickers become line protocol;
// a batch InfluxDB refuses (400) is split until the refused record is isolated.
#include <string>

#include "cryptoflow/batch_sink.hpp"
#include "influx_writer.hpp"

namespace cryptoflow::influx {

struct TopicNames {  // which topic carries which message
  std::string candles = "crypto.candles";
  std::string indicators = "crypto.indicators";
  std::string tickers = "crypto.tickers";
};

// Encodes one record of `topic` as a line; returns an error text for undecodable records.
std::string encode_record(const TopicNames& topics, const std::string& topic, std::string_view value,
                          std::string& lines);

class InfluxDestination final : public sink::Destination {
 public:
  InfluxDestination(TopicNames topics, InfluxWriter& writer) : topics_(std::move(topics)), writer_(writer) {}
  std::string encode(const std::string& topic, std::string_view value, std::string& body) override {
    return encode_record(topics_, topic, value, body);
  }
  sink::WriteOutcome write(const std::string& body, const std::vector<sink::Slice>& slices) override;

 private:
  void write_range(const std::string& body, const std::vector<sink::Slice>& slices, std::size_t lo, std::size_t hi,
                   sink::WriteOutcome& out);
  TopicNames topics_;
  InfluxWriter& writer_;
};

}  // namespace cryptoflow::influx
