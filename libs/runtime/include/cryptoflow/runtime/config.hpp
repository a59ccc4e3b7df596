#pragma once
// 12-factor configuration: every setting is an environment variable with a default, declared
// once so that `--help` lists exactly what a binary reads. A bad value is a ConfigError that
// names the variable; run_service() turns it into exit code 2.
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace cryptoflow {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct VarSpec {
  std::string name;
  std::string default_value;  // empty: no default
  std::string help;
};

// The variables every service reads (docs/contract.md, "Every service but dev-broker").
std::vector<VarSpec> common_vars();
// RETRY_AFTER_MAX, read by every service that speaks HTTP.
VarSpec retry_after_max_var();

class Config {
 public:
  using Env = std::map<std::string, std::string>;

  Config(std::vector<VarSpec> vars, Env env, std::vector<std::string> args = {});
  static Env process_env();

  [[nodiscard]] const std::vector<VarSpec>& vars() const { return vars_; }
  [[nodiscard]] const Env& env() const { return env_; }
  // Command-line arguments other than --help and --version (only dev-broker takes any).
  [[nodiscard]] const std::vector<std::string>& args() const { return args_; }

  [[nodiscard]] bool declares(const std::string& name) const;
  // Value or default; reading an undeclared variable is a programming error (std::logic_error).
  [[nodiscard]] std::string str(const std::string& name) const;
  [[nodiscard]] std::int64_t integer(const std::string& name, std::int64_t min, std::int64_t max) const;
  // "250ms", "30s", "1m", "1h", "1d", "1w"; a bare number is milliseconds.
  [[nodiscard]] std::int64_t duration_ms(const std::string& name) const;
  // Comma-separated, trimmed, empty items dropped.
  [[nodiscard]] std::vector<std::string> list(const std::string& name) const;
  // An http:// or https:// URL with a host and a valid port (parse_url); returned as written.
  [[nodiscard]] std::string http_url(const std::string& name) const;
  [[nodiscard]] std::string choice(const std::string& name, const std::vector<std::string>& allowed) const;

  // `--help` text: usage, summary, then every variable with its default and meaning.
  [[nodiscard]] std::string help(const std::string& program, const std::string& summary) const;

 private:
  const VarSpec& spec(const std::string& name) const;
  std::vector<VarSpec> vars_;
  Env env_;
  std::vector<std::string> args_;
};

// A URL from the configuration, checked at start so that a typo is exit 2, not a retry loop.
struct Url {
  std::string scheme;    // lower case, e.g. "https"
  std::string userinfo;  // "user:password" or empty: never log it (redact_url)
  std::string host;      // an IPv6 literal without its brackets
  std::string port;      // 1-65535; the scheme's default when the URL has none
  std::string target;    // path and query; "/" when the URL has none
  [[nodiscard]] bool secure() const { return scheme == "https" || scheme == "wss"; }
  // host:port as a Host header writes it ("[::1]:8086" for an IPv6 literal).
  [[nodiscard]] std::string authority() const;
};
// Accepts http, https, ws and wss URLs whose scheme is in `schemes`; throws a ConfigError that
// names `variable` and says what is wrong (no host, a port outside 1-65535, an unclosed "[").
Url parse_url(const std::string& text, const std::string& variable, const std::vector<std::string>& schemes);

// The URL with its user info replaced by "***" ("http://***@host/"), for logs and errors.
std::string redact_url(const std::string& text);

// Parses "1m", "30s", ... into milliseconds; nullopt-like -1 on error.
std::int64_t parse_duration_ms(const std::string& text);

std::vector<std::string> split_list(const std::string& text);

struct ServiceInfo {
  std::string program;  // binary name
  std::string summary;  // one line for --help (more lines for flags, if it takes any)
  std::vector<VarSpec> vars;
  bool takes_arguments = false;  // otherwise any argument is a configuration error
};

}  // namespace cryptoflow
