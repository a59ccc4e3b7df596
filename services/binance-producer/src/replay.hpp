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
#include <memory>
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
class DepthBooks;
struct DepthSnapshot;

// Recorded REST depth answers (REPLAY_DEPTH_SNAPSHOTS: cryptofeed's "<url> -> <ts>: <json>" lines,
// the symbol from the URL's symbol=). A book that asks for a snapshot gets the next one recorded
// for its symbol once the replay has reached the time it was taken (at once for a file without
// times), exactly as the recorder's own REST call answered.
class RecordedSnapshots {
 public:
  explicit RecordedSnapshots(const std::string& path);  // throws std::runtime_error
  ~RecordedSnapshots();
  RecordedSnapshots(const RecordedSnapshots&) = delete;
  RecordedSnapshots& operator=(const RecordedSnapshots&) = delete;
  void want(const std::string& symbol);
  // Hands `books` the snapshots due at record time now_s (none: any); now_ms stamps the records.
  void deliver(DepthBooks& books, std::optional<double> now_s, std::int64_t now_ms);
  [[nodiscard]] std::size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Publishes every frame of file. speed 0: as fast as the producer takes them; speed N: trade
// times are replayed N times faster than recorded. Stops early when stop() turns true.
// books: the depth events of the file go to it (with the snapshots it asks for from
// `snapshots`); none: they are ignored. Returns the number of trades published.
std::uint64_t replay(ReplayFile& file, Publisher& publisher, kafka::Producer& producer, double speed,
                     const std::function<bool()>& stop, DepthBooks* books = nullptr,
                     RecordedSnapshots* snapshots = nullptr);

}  // namespace cryptoflow::binance
