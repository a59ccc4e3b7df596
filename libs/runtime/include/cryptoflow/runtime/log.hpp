#pragma once
// Structured logs: one line per event on stderr, JSON ({"ts":..,"level":..,"service":..,
// "msg":..,<fields>}) or text, filtered by LOG_LEVEL. Thread-safe.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace cryptoflow {

enum class LogLevel { trace, debug, info, warn, error };

struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, const char* v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, std::int64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  LogField(std::string_view k, int v) : key(k), value(std::to_string(v)), quoted(false) {}
  LogField(std::string_view k, std::uint64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  LogField(std::string_view k, double v);
  LogField(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted(false) {}
  std::string_view key;
  std::string value;
  bool quoted;
};
using LogFields = std::initializer_list<LogField>;

void configure_logging(std::string_view service, std::string_view level, std::string_view format);
bool log_enabled(LogLevel level);
void log(LogLevel level, std::string_view msg, LogFields fields = {});

inline void log_debug(std::string_view m, LogFields f = {}) {
  log(LogLevel::debug, m, f);
}
inline void log_info(std::string_view m, LogFields f = {}) {
  log(LogLevel::info, m, f);
}
inline void log_warn(std::string_view m, LogFields f = {}) {
  log(LogLevel::warn, m, f);
}
inline void log_error(std::string_view m, LogFields f = {}) {
  log(LogLevel::error, m, f);
}

// Logs at most once per interval per instance (e.g. once per kind of bad input) and says how
// many were suppressed in between.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(std::chrono::milliseconds interval = std::chrono::seconds(10))
      : interval_ms_(interval.count()) {}
  void operator()(LogLevel level, std::string_view msg, LogFields fields = {});

 private:
  std::int64_t interval_ms_;
  std::atomic<std::int64_t> last_ms_{-1};
  std::atomic<std::uint64_t> suppressed_{0};
};

// strerror's text for an errno value, thread-safe (strerror itself may share a buffer).
std::string errno_text(int errno_value);

// JSON string escaping (quotes, backslash, control characters).
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace cryptoflow
