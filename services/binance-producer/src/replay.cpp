#include "replay.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cryptoflow/kafka/client.hpp"
#include "cryptoflow/runtime/clock.hpp"
#include "depth_feed.hpp"
#include "frame_decoder.hpp"
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

namespace {

std::vector<std::string> split_csv(const std::string& row) {
  std::vector<std::string> f;
  std::string cur;
  for (char c : row) {
    if (c == ',') {
      f.push_back(cur);
      cur.clear();
    } else if (c != '\r' && c != '"') {
      cur += c;
    }
  }
  f.push_back(cur);
  return f;
}

bool is_integer(const std::string& s) {
  return !s.empty() && s.size() < 20 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::string> json_bool(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "true" || s == "1") return "true";
  if (s == "false" || s == "0") return "false";
  return std::nullopt;
}

bool is_decimal_text(const std::string& s) {
  return !s.empty() && s.size() < 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == 'e' || c == 'E';
  });
}

}  // namespace

bool csv_to_frame(CsvKind kind, const std::string& row, const std::string& symbol, ReplayLine& out) {
  const auto f = split_csv(row);
  auto trade_frame = [&](const std::string& type, const std::string& id_field, const std::string& id,
                         const std::string& price, const std::string& qty, const std::string& time,
                         const std::string& event_time, const std::string& sym, const std::string& maker,
                         const std::string& extra) {
    const auto m = json_bool(maker);
    if (!is_integer(id) || !is_integer(time) || !is_integer(event_time) || !is_decimal_text(price) ||
        !is_decimal_text(qty) || !m)
      return false;
    out.frame = "{\"e\":\"" + type + "\",\"E\":" + event_time + ",\"s\":\"" + sym + "\",\"" + id_field + "\":" + id +
                ",\"p\":\"" + price + "\",\"q\":\"" + qty + "\"" + extra + ",\"T\":" + time + ",\"m\":" + *m + "}";
    return true;
  };
  switch (kind) {
    case CsvKind::trades:
      return f.size() >= 6 && trade_frame("trade", "t", f[0], f[1], f[2], f[4], f[4], symbol, f[5], "");
    case CsvKind::agg_trades:
      return f.size() >= 7 && is_integer(f[3]) && is_integer(f[4]) &&
             trade_frame("aggTrade", "a", f[0], f[1], f[2], f[5], f[5], symbol, f[6],
                         ",\"f\":" + f[3] + ",\"l\":" + f[4]);
    case CsvKind::recorded_stream:
      if (f.size() < 10 || !is_integer(f[0])) return false;
      out.received_ms = to_millis(std::stoll(f[0]));
      return trade_frame("trade", "t", f[6], f[7], f[8], f[4], f[3], f[5], f[9], "");
    case CsvKind::none: break;
  }
  return false;
}

ReplayFile::ReplayFile(const std::string& path) : in_(path), path_(path) {
  if (!in_) throw std::runtime_error("cannot open REPLAY_FILE " + path);
  const auto name = std::filesystem::path(path).filename().string();
  const bool csv = name.size() > 4 && name.substr(name.size() - 4) == ".csv";
  if (!csv) return;
  std::string first;
  const auto at = in_.tellg();
  std::getline(in_, first);
  in_.clear();
  in_.seekg(at);
  if (first.rfind("TimestampOfReceive,", 0) == 0) {
    csv_ = CsvKind::recorded_stream;
  } else if (const auto dash = name.find("-aggTrades"); dash != std::string::npos) {
    csv_ = CsvKind::agg_trades;
    symbol_ = name.substr(0, dash);
  } else if (const auto d2 = name.find("-trades"); d2 != std::string::npos) {
    csv_ = CsvKind::trades;
    symbol_ = name.substr(0, d2);
  } else {
    throw std::runtime_error("REPLAY_FILE " + path +
                             ": a CSV must be a Binance dump named <SYMBOL>-trades-... or <SYMBOL>-aggTrades-..., "
                             "or have a TimestampOfReceive,... header");
  }
  for (auto& c : symbol_) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
}

std::optional<ReplayLine> ReplayFile::next() {
  std::string line;
  ReplayLine out;
  while (std::getline(in_, line)) {
    ++line_number_;
    if (csv_ != CsvKind::none) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      out.received_ms.reset();
      if (!csv_to_frame(csv_, line, symbol_, out)) {
        if (line_number_ == 1) continue;  // a header
        out.frame = line;                 // counted as malformed by the decoder
      }
      out.line_number = line_number_;
      return out;
    }
    if (split_replay_line(line, out)) {
      out.line_number = line_number_;
      return out;
    }
  }
  if (in_.bad()) throw std::runtime_error("read error in " + path_);
  return std::nullopt;
}

struct RecordedSnapshots::Impl {
  struct Taken {
    double ts = 0;  // 0: no time recorded
    DepthSnapshot snapshot;
  };
  std::map<std::string, std::deque<Taken>> by_symbol;
  std::set<std::string> wanted;
};

RecordedSnapshots::RecordedSnapshots(const std::string& path) : impl_(std::make_unique<Impl>()) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string line;
  std::uint64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    const auto colon = line.find(": ");
    const auto sym = line.find("symbol=");
    if (colon == std::string::npos || sym == std::string::npos || sym > colon) continue;
    const auto end = line.find_first_of("& ", sym);
    std::string symbol = line.substr(sym + 7, end - sym - 7);
    for (auto& c : symbol) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto snapshot = decode_depth_snapshot(std::string_view(line).substr(colon + 2));
    if (!snapshot) throw std::runtime_error(path + ":" + std::to_string(number) + ": not a depth snapshot");
    const auto arrow = line.rfind(' ', colon);
    const double ts = arrow == std::string::npos ? 0 : std::strtod(line.c_str() + arrow + 1, nullptr);
    impl_->by_symbol[symbol].push_back({ts, std::move(*snapshot)});
  }
}

RecordedSnapshots::~RecordedSnapshots() = default;

void RecordedSnapshots::want(const std::string& symbol) {
  impl_->wanted.insert(symbol);
}

std::size_t RecordedSnapshots::size() const {
  std::size_t n = 0;
  for (const auto& [symbol, taken] : impl_->by_symbol) n += taken.size();
  return n;
}

void RecordedSnapshots::deliver(DepthBooks& books, std::optional<double> now_s, std::int64_t now_ms) {
  for (auto it = impl_->wanted.begin(); it != impl_->wanted.end();) {
    auto& taken = impl_->by_symbol[*it];
    if (taken.empty() || (now_s && taken.front().ts > *now_s)) {
      ++it;
      continue;
    }
    const auto symbol = *it;
    const auto snapshot = std::move(taken.front().snapshot);
    taken.pop_front();
    it = impl_->wanted.erase(it);
    books.on_snapshot(symbol, snapshot, now_ms);  // may want the symbol again (a later one)
  }
}

std::uint64_t replay(ReplayFile& file, Publisher& publisher, kafka::Producer& producer, double speed,
                     const std::function<bool()>& stop, DepthBooks* books, RecordedSnapshots* snapshots) {
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
        producer.poll(std::chrono::milliseconds(0));
        std::this_thread::sleep_until(std::min(due, Clock::now() + std::chrono::milliseconds(50)));
      }
    }
    if (publisher.publish(d) == FrameKind::trade) ++trades;
    if (books == nullptr || d.kind != FrameKind::ignored) continue;
    const auto record_ms = line->received_ms.value_or(wall_clock_ms());
    if (snapshots != nullptr)
      snapshots->deliver(
          *books, line->received_ms ? std::optional<double>(static_cast<double>(record_ms) / 1000.0) : std::nullopt,
          record_ms);
    if (line->frame.find("\"depthUpdate\"") == std::string::npos) continue;
    if (auto u = decode_depth_update(line->frame)) {
      books->on_update(std::move(*u), record_ms, false);
      if (snapshots != nullptr && !line->received_ms) snapshots->deliver(*books, std::nullopt, record_ms);
      books->tick(record_ms);
    } else {
      books->invalid_frame("a depthUpdate event with a missing, ill-typed or out-of-range field");
    }
  }
  return trades;
}

}  // namespace cryptoflow::binance
