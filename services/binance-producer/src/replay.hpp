#pragma once
// Reads a recorded market-data file line by line for REPLAY_FILE. Accepted lines:
//   {"e":"trade",...}                         one Binance event
//   {"stream":"...","data":{...}}             the combined-stream wrapper
//   1633998512.0633569: {...}                 either of the above behind a receive time
// cryptofeed's header line ("<url> <-> <ts>") and blank lines are skipped.
// CSV files are turned into trade events line by line:
//   Binance's dumps (data.binance.vision), with or without a header; the symbol comes from the
//   file name (BTCUSDT-trades-2025-01-01.csv, BTCUSDT-aggTrades-2025-01-01.csv):
//     trades     id,price,qty,quote_qty,time,is_buyer_maker[,is_best_match]
//     aggTrades  agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker[,..]
//   recorded streams with a header naming the columns (TimestampOfReceive,Stream,EventType,
//   EventTime,TransactionTime,Symbol,TradeId,Price,Quantity,IsBuyerMarketMaker,...)
// Times may be milliseconds or microseconds (Binance's 2025+ dumps).
#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

namespace cryptoflow::kafka {
class Producer;
}

namespace cryptoflow::binance {

struct ReplayLine {
  std::string frame;                        // the JSON text
  std::optional<std::int64_t> received_ms;  // from a "<ts>: " prefix (seconds, fractional)
  std::uint64_t line_number = 0;
};

// Splits an optional "<seconds>: " prefix from a line; returns false for lines to skip.
bool split_replay_line(const std::string& line, ReplayLine& out);

enum class CsvKind { none, trades, agg_trades, recorded_stream };

// Turns one CSV row into a trade event frame; false if the row does not fit the kind.
bool csv_to_frame(CsvKind kind, const std::string& row, const std::string& symbol, ReplayLine& out);

class ReplayFile {
 public:
  explicit ReplayFile(const std::string& path);  // throws std::runtime_error if unreadable
  // Next frame, or nullopt at end of file. A CSV row that does not parse is returned as itself
  // (the decoder then counts it as malformed).
  std::optional<ReplayLine> next();
  [[nodiscard]] CsvKind csv_kind() const { return csv_; }

 private:
  std::ifstream in_;
  std::string path_;
  std::uint64_t line_number_ = 0;
  CsvKind csv_ = CsvKind::none;
  std::string symbol_;  // for Binance's dumps: from the file name
};

class Publisher;

// Publishes every frame of file. speed 0: as fast as the producer takes them; speed N: trade
// times are replayed N times faster than recorded. Stops early when stop() turns true.
// Returns the number of trades published.
std::uint64_t replay(ReplayFile& file, Publisher& publisher, kafka::Producer& producer, double speed,
                     const std::function<bool()>& stop);

}  // namespace cryptoflow::binance
