#pragma once
// Candles older than the gateway holds in memory, from InfluxDB's `candle` measurement (what
// influxdb-sink writes; docs/contract.md's schema) when INFLUX_URL is set. Queried with InfluxQL
// on /query: InfluxDB 1.x (db, basic auth) or 2.x's v1-compatible /query (token; the bucket
// needs a DBRP mapping, which writes through the v1 API create).
//
// InfluxDB keeps the decimals as float64: they come back with the shortest digits that read back
// to the same float (0.00152787 stays 0.00152787; a price with more than 15 significant digits
// may not). A candle's end is start + the interval, as the stream-processor writes it.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/net/http.hpp"
#include "store.hpp"

namespace cryptoflow::gateway {

class CandleHistory {
 public:
  virtual ~CandleHistory() = default;
  // As MarketStore::candles: ascending; with a start the first `limit` from it, else the last
  // `limit` up to end. Throws std::runtime_error when the history does not answer.
  virtual std::vector<Candle> candles(const CandleQuery& q) = 0;
};

struct InfluxHistoryOptions {
  std::string url;         // empty: no history
  std::string api = "v2";  // v1: db and basic auth; v2: token and bucket
  std::string token;       // v2
  std::string bucket = "crypto";
  std::string db = "crypto";  // v1
  std::string username, password;
  std::chrono::milliseconds timeout{5000};
};

// The InfluxQL statement for a query (string literals escaped).
std::string influxql_for(const CandleQuery& q);
// The candles in a /query answer (epoch=ms); throws std::runtime_error for an error answer or a
// row that is not a candle.
std::vector<Candle> candles_from_influx(std::string_view body, const CandleQuery& q);

class InfluxHistory final : public CandleHistory {
 public:
  explicit InfluxHistory(InfluxHistoryOptions options);
  std::vector<Candle> candles(const CandleQuery& q) override;

 private:
  InfluxHistoryOptions o_;
  HttpClient http_;
  std::vector<std::string> headers_;
};

}  // namespace cryptoflow::gateway
