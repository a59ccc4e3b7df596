#pragma once
// Reads a recorded market-data file line by line for REPLAY_FILE. Accepted lines:
//   {"e":"trade",...}                         one Binance event
//   {"stream":"...","data":{...}}             the combined-stream wrapper
//   1633998512.0633569: {...}                 either of the above behind a receive time
// cryptofeed's header line ("<url> <-> <ts>") and blank lines are skipped.
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

class ReplayFile {
 public:
  explicit ReplayFile(const std::string& path);  // throws std::runtime_error if unreadable
  // Next frame, or nullopt at end of file.
  std::optional<ReplayLine> next();

 private:
  std::ifstream in_;
  std::string path_;
  std::uint64_t line_number_ = 0;
};

class Publisher;

// Publishes every frame of file. speed 0: as fast as the producer takes them; speed N: trade
// times are replayed N times faster than recorded. Stops early when stop() turns true.
// Returns the number of trades published.
std::uint64_t replay(ReplayFile& file, Publisher& publisher, kafka::Producer& producer, double speed,
                     const std::function<bool()>& stop);

}  // namespace cryptoflow::binance
