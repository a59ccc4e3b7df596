#include "replay.hpp"

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "cryptoflow/clock.hpp"
#include "cryptoflow/kafka.hpp"
#include "publisher.hpp"

namespace cryptoflow::binance {

bool split_replay_line(const std::string& line, ReplayLine& out) {
  std::size_t start = line.find_first_not_of(" \t\r");
  if (start == std::string::npos) return false;
  out.received_ms.reset();
  if (line[start] != '{') {
    // "<seconds>: {json}" — anything else (cryptofeed's header) is skipped.
    const auto colon = line.find(": {", start);
    if (colon == std::string::npos) return false;
    const std::string ts = line.substr(start, colon - start);
    char* end = nullptr;
    const double secs = std::strtod(ts.c_str(), &end);
    if (end == ts.c_str() || *end != '\0' || secs <= 0) return false;
    out.received_ms = static_cast<std::int64_t>(secs * 1000.0);
    start = colon + 2;
  }
  std::size_t stop = line.find_last_not_of(" \t\r");
  out.frame.assign(line, start, stop - start + 1);
  return true;
}

ReplayFile::ReplayFile(const std::string& path) : in_(path), path_(path) {
  if (!in_) throw std::runtime_error("cannot open REPLAY_FILE " + path);
}

std::optional<ReplayLine> ReplayFile::next() {
  std::string line;
  ReplayLine out;
  while (std::getline(in_, line)) {
    ++line_number_;
    if (split_replay_line(line, out)) {
      out.line_number = line_number_;
      return out;
    }
  }
  if (in_.bad()) throw std::runtime_error("read error in " + path_);
  return std::nullopt;
}

std::uint64_t replay(ReplayFile& file, Publisher& publisher, kafka::Producer& producer, double speed,
                     const std::function<bool()>& stop) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  std::int64_t first_trade_ms = -1;
  std::uint64_t trades = 0;
  while (!stop()) {
    auto line = file.next();
    if (!line) break;
    const auto d = decode_frame(line->frame, line->received_ms.value_or(wall_clock_ms()));
    if (speed > 0 && d.kind == FrameKind::trade) {
      // Trade t is due (t - first) / speed after the start.
      if (first_trade_ms < 0) first_trade_ms = d.trade.trade_time;
      const auto due = started + std::chrono::microseconds(static_cast<std::int64_t>(
                                     static_cast<double>(d.trade.trade_time - first_trade_ms) * 1000.0 / speed));
      while (Clock::now() < due && !stop()) {
        producer.poll(0);
        std::this_thread::sleep_until(std::min(due, Clock::now() + std::chrono::milliseconds(50)));
      }
    }
    if (publisher.publish(d) == FrameKind::trade) ++trades;
  }
  return trades;
}

}  // namespace cryptoflow::binance
