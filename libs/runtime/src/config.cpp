#include "cryptoflow/runtime/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

extern char** environ;

namespace cryptoflow {

std::vector<VarSpec> common_vars() {
  return {
      {"KAFKA_BOOTSTRAP_SERVERS", "localhost:9092", "Kafka brokers (host:port,...)"},
      {"KAFKA_<NAME>", "", "any librdkafka property: KAFKA_SECURITY_PROTOCOL -> security.protocol"},
      {"ADMIN_PORT", "8080", "port of /healthz, /readyz, /metrics; 0 disables"},
      {"LOG_LEVEL", "info", "trace, debug, info, warn, error"},
      {"LOG_FORMAT", "json", "json or text"},
      {"TRADES_TOPIC", "crypto.trades", "trades topic"},
      {"TICKERS_TOPIC", "crypto.tickers", "tickers topic"},
      {"CANDLES_TOPIC", "crypto.candles", "candles topic"},
      {"INDICATORS_TOPIC", "crypto.indicators", "indicators topic"},
      {"BOOKS_TOPIC", "crypto.books", "order books topic (snapshots, updates, resyncs)"},
      {"LATE_TRADES_TOPIC", "crypto.late-trades", "trades behind the watermark"},
      {"DEAD_LETTER_TOPIC", "crypto.dead-letter", "undecodable or invalid records"},
      {"TOPIC_PARTITIONS", "6", "partitions of a topic this service creates because it is missing"},
      {"TOPIC_REPLICATION_FACTOR", "1", "replication factor of such a topic"},
  };
}

VarSpec retry_after_max_var() {
  return {"RETRY_AFTER_MAX", "60s", "longest wait an HTTP Retry-After header can impose (a longer one is cut to this)"};
}

Config::Config(std::vector<VarSpec> vars, Env env, std::vector<std::string> args)
    : vars_(std::move(vars)), env_(std::move(env)), args_(std::move(args)) {}

Config::Env Config::process_env() {
  Env env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

bool Config::declares(const std::string& name) const {
  return std::any_of(vars_.begin(), vars_.end(), [&](const VarSpec& v) { return v.name == name; });
}

const VarSpec& Config::spec(const std::string& name) const {
  for (const auto& v : vars_)
    if (v.name == name) return v;
  throw std::logic_error("configuration variable " + name + " is read but not declared");
}

std::string Config::str(const std::string& name) const {
  const auto& s = spec(name);
  auto it = env_.find(name);
  return it != env_.end() ? it->second : s.default_value;
}

std::int64_t Config::integer(const std::string& name, std::int64_t min, std::int64_t max) const {
  const auto text = str(name);
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size()) throw ConfigError(name + "='" + text + "' is not an integer");
  if (v < min || v > max)
    throw ConfigError(name + "=" + text + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) +
                      "]");
  return v;
}

std::int64_t parse_duration_ms(const std::string& text) {
  if (text.empty()) return -1;
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (n > 1'000'000'000'000) return -1;
    n = n * 10 + (text[i++] - '0');
  }
  if (i == 0) return -1;
  const std::string unit = text.substr(i);
  std::int64_t mul = 0;
  if (unit.empty() || unit == "ms")
    mul = 1;
  else if (unit == "s")
    mul = 1000;
  else if (unit == "m")
    mul = 60'000;
  else if (unit == "h")
    mul = 3'600'000;
  else if (unit == "d")
    mul = 86'400'000;
  else if (unit == "w")
    mul = 7 * 86'400'000LL;
  else
    return -1;
  return n * mul;
}

std::int64_t Config::duration_ms(const std::string& name) const {
  const auto text = str(name);
  const auto ms = parse_duration_ms(text);
  if (ms < 0) throw ConfigError(name + "='" + text + "' is not a duration (e.g. 500ms, 30s, 1m, 1h)");
  return ms;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::vector<std::string> Config::list(const std::string& name) const {
  return split_list(str(name));
}

std::string Url::authority() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

Url parse_url(const std::string& text, const std::string& variable, const std::vector<std::string>& schemes) {
  const auto bad = [&](const std::string& what) {
    return ConfigError(variable + "='" + redact_url(text) + "' " + what);
  };
  std::string expected;
  for (const auto& s : schemes) expected += (expected.empty() ? "" : " or ") + s + "://";
  Url u;
  const auto sep = text.find("://");
  if (sep == std::string::npos) throw bad("is not a URL: write " + expected + "host[:port][/path]");
  for (char c : text.substr(0, sep)) u.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (std::find(schemes.begin(), schemes.end(), u.scheme) == schemes.end())
    throw bad("has scheme " + u.scheme + ": expected " + expected);
  std::string rest = text.substr(sep + 3);
  const auto end = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, end);
  u.target = end == std::string::npos ? "/" : rest.substr(end);
  if (u.target[0] != '/') u.target = "/" + u.target;
  if (const auto at = authority.rfind('@'); at != std::string::npos) {
    u.userinfo = authority.substr(0, at);
    authority.erase(0, at + 1);
    // HTTP clients (curl) end the user and password at the first '@': a raw one in the password
    // would send a wrong password and a wrong host to every request.
    if (u.userinfo.find('@') != std::string::npos) throw bad("has an '@' in its user or password: write it as %40");
  }
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) throw bad("has an IPv6 address without its closing ']'");
    u.host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty() && after[0] != ':') throw bad("has text after the IPv6 address: write [address]:port");
    if (!after.empty()) port = after.substr(1);
    if (u.host.empty()) throw bad("has no host");
  } else {
    const auto colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
    if (u.host.empty()) throw bad("has no host");
    if (colon != std::string::npos && port.empty()) throw bad("has ':' but no port");
    if (u.host.find_first_of("[] ") != std::string::npos) throw bad("has a malformed host");
  }
  if (!port.empty() || authority.back() == ':') {
    const bool digits = !port.empty() && port.size() <= 5 &&
                        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535) throw bad("has port '" + port + "': 1-65535");
    u.port = port;
  } else {
    u.port = u.secure() ? "443" : "80";
  }
  return u;
}

std::string redact_url(const std::string& text) {
  const auto sep = text.find("://");
  if (sep == std::string::npos) return text;
  const auto end = text.find_first_of("/?#", sep + 3);
  const auto at = text.rfind('@', end == std::string::npos ? std::string::npos : end);
  if (at == std::string::npos || at < sep + 3) return text;
  return text.substr(0, sep + 3) + "***" + text.substr(at);
}

std::string Config::http_url(const std::string& name) const {
  auto v = str(name);
  (void)parse_url(v, name, {"http", "https"});
  return v;
}

std::string Config::choice(const std::string& name, const std::vector<std::string>& allowed) const {
  auto v = str(name);
  if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return v;
  std::string msg = name + "='" + v + "' is not one of:";
  for (const auto& a : allowed) msg += " " + a;
  throw ConfigError(msg);
}

std::string Config::help(const std::string& program, const std::string& summary) const {
  std::ostringstream o;
  o << "Usage: " << program << " [--help] [--version]\n\n" << summary << "\n\n";
  o << "Configuration (environment variables; default in brackets):\n";
  std::size_t width = 0;
  for (const auto& v : vars_) width = std::max(width, v.name.size());
  for (const auto& v : vars_) {
    o << "  " << v.name << std::string(width - v.name.size() + 2, ' ') << v.help;
    if (!v.default_value.empty()) o << " [" << v.default_value << "]";
    o << "\n";
  }
  o << "\nExit codes: 0 after SIGTERM/SIGINT and a clean drain, 2 on bad configuration, 1 on a "
       "fatal runtime error.\n";
  return o.str();
}

}  // namespace cryptoflow
