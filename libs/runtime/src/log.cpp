#include "cryptoflow/runtime/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>

#include "cryptoflow/runtime/clock.hpp"

namespace cryptoflow {
namespace {

struct LogState {
  std::string service = "cryptoflow";
  std::atomic<int> level{static_cast<int>(LogLevel::info)};
  bool json = true;
  std::mutex mu;
};
LogState& state() {
  // Never destroyed: librdkafka's threads log from their own threads, also those of a consumer
  // handle left to the process exit (libs/kafka consumer.cpp), and they may do so while static
  // objects are being destroyed.
  static union Immortal {
    LogState s;
    Immortal() : s() {}
    ~Immortal() {}
  } immortal;
  return immortal.s;
}

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

}  // namespace

LogField::LogField(std::string_view k, double v) : key(k), quoted(false) {
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%.6g", v);
  value.assign(buf, static_cast<std::size_t>(n));
}

void append_json_escaped(std::string& out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
}

void configure_logging(std::string_view service, std::string_view level, std::string_view format) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.service = std::string(service);
  for (int l = 0; l <= static_cast<int>(LogLevel::error); ++l)
    if (level == level_name(static_cast<LogLevel>(l))) s.level = l;
  s.json = format != "text";
}

bool log_enabled(LogLevel level) {
  return static_cast<int>(level) >= state().level.load();
}

void log(LogLevel level, std::string_view msg, LogFields fields) {
  if (!log_enabled(level)) return;
  auto& s = state();
  std::string line;
  line.reserve(128);
  if (s.json) {
    line += "{\"ts\":\"";
    line += format_iso8601_ms(wall_clock_ms());
    line += "\",\"level\":\"";
    line += level_name(level);
    line += "\",\"service\":\"";
    append_json_escaped(line, s.service);
    line += "\",\"msg\":\"";
    append_json_escaped(line, msg);
    line += '"';
    for (const auto& f : fields) {
      line += ",\"";
      append_json_escaped(line, f.key);
      line += "\":";
      if (f.quoted) {
        line += '"';
        append_json_escaped(line, f.value);
        line += '"';
      } else {
        line += f.value;
      }
    }
    line += "}\n";
  } else {
    line += format_iso8601_ms(wall_clock_ms());
    line += ' ';
    line += level_name(level);
    line += ' ';
    line += s.service;
    line += ": ";
    line += msg;
    for (const auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      line += f.value;
    }
    line += '\n';
  }
  std::lock_guard lock(s.mu);
  // One write per line keeps lines whole when several processes share a terminal.
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

void RateLimitedLog::operator()(LogLevel level, std::string_view msg, LogFields fields) {
  const auto now = wall_clock_ms();
  auto last = last_ms_.load();
  if (last >= 0 && now - last < interval_ms_) {
    ++suppressed_;
    return;
  }
  if (!last_ms_.compare_exchange_strong(last, now)) {
    ++suppressed_;
    return;
  }
  const auto suppressed = suppressed_.exchange(0);
  if (suppressed == 0) {
    log(level, msg, fields);
    return;
  }
  std::string m(msg);
  m += " (" + std::to_string(suppressed) + " similar suppressed)";
  log(level, m, fields);
}

std::string errno_text(int errno_value) {
  char buf[256];
  // GNU strerror_r: returns the message, in buf or in static storage.
  return ::strerror_r(errno_value, buf, sizeof buf);
}

}  // namespace cryptoflow
