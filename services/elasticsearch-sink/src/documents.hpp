#pragma once
// Elasticsearch documents for candles, tickers and indicators, as _bulk NDJSON "index" actions
// with deterministic ids (docs/contract.md), so a replayed record overwrites its own document:
//   <prefix>-candles     _id <symbol>-<interval>-<window start ms>, @timestamp = window start
//   <prefix>-tickers     _id <coin>:<vs_currency>-<last_updated ms>, @timestamp = last_updated
//   <prefix>-indicators  _id <symbol>-<window>-<end ms>,            @timestamp = end
// Decimals are written as JSON numbers with their exact digits (mapped as double).
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow::elastic {

struct TopicNames {
  std::string candles = "crypto.candles";
  std::string indicators = "crypto.indicators";
  std::string tickers = "crypto.tickers";
};

// Appends the action line and the document line; returns an error text for undecodable records.
std::string encode_record(const TopicNames& topics, const std::string& prefix, const std::string& topic,
                          std::string_view value, std::string& ndjson);

void append_bulk_index(std::string& out, const std::string& index, const Candle& c);
void append_bulk_index(std::string& out, const std::string& index, const Ticker& t);
void append_bulk_index(std::string& out, const std::string& index, const Indicator& m);

// The index templates (PUT /_index_template/<name>): name and body, for each index.
struct IndexTemplate {
  std::string name;
  std::string body;
};
std::vector<IndexTemplate> index_templates(const std::string& prefix);

}  // namespace cryptoflow::elastic
