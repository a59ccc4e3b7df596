// Client configuration: librdkafka confs with the library's log and error callbacks, handles,
// and Properties.
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>

#include "cryptoflow/runtime/log.hpp"
#include "native.hpp"

namespace cryptoflow::kafka::native {
namespace {

void on_error(rd_kafka_t* rk, int err, const char* reason, void*) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    rd_kafka_fatal_error(rk, buf, sizeof buf);
    log_error("kafka fatal error", {{"client", rd_kafka_name(rk)}, {"error", buf}});
    return;
  }
  // Transient: librdkafka retries by itself (broker down, all brokers down, timeouts).
  static RateLimitedLog limited(std::chrono::seconds(5));
  limited(LogLevel::warn, "kafka error",
          {{"client", rd_kafka_name(rk)}, {"code", rd_kafka_err2name(code)}, {"reason", reason ? reason : ""}});
}

void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const LogLevel l = level <= 3   ? LogLevel::error
                     : level <= 4 ? LogLevel::warn
                     : level <= 6 ? LogLevel::info
                                  : LogLevel::debug;
  log(l, "librdkafka", {{"client", rd_kafka_name(rk)}, {"facility", fac}, {"text", buf}});
}

// librdkafka's own table of properties (rd_kafka_conf_properties_show prints CONFIGURATION.md's
// "Property | C/P | Range | Default | Importance | Description" rows), read once.
const std::map<std::string, char>& scopes() {
  static const std::map<std::string, char> table = [] {
    std::map<std::string, char> out;
    char* text = nullptr;
    std::size_t size = 0;
    if (FILE* f = open_memstream(&text, &size)) {
      rd_kafka_conf_properties_show(f);
      std::fclose(f);
    }
    const std::unique_ptr<char, decltype(&std::free)> owned(text, &std::free);
    std::istringstream lines(text ? std::string(text, size) : std::string());
    auto trim = [](const std::string& x) {
      const auto b = x.find_first_not_of(' ');
      const auto e = x.find_last_not_of(' ');
      return b == std::string::npos ? std::string() : x.substr(b, e - b + 1);
    };
    for (std::string line; std::getline(lines, line);) {
      const auto bar = line.find('|');
      const auto bar2 = bar == std::string::npos ? bar : line.find('|', bar + 1);
      if (bar2 == std::string::npos) continue;
      const auto name = trim(line.substr(0, bar));
      const auto scope = trim(line.substr(bar + 1, bar2 - bar - 1));
      if (scope.size() == 1 && (scope[0] == 'C' || scope[0] == 'P' || scope[0] == '*')) out[name] = scope[0];
    }
    return out;
  }();
  return table;
}

// Whom a property is for, as librdkafka's CONFIGURATION.md says: 'C' consumers, 'P' producers,
// '*' both; '?' for a name librdkafka does not know.
char property_scope(const std::string& name) {
  const auto& table = scopes();
  const auto it = table.find(name);
  return it == table.end() ? '?' : it->second;
}

// A conf with every property, or (type) only those for that kind of client.
ConfPtr conf_with(const Properties& props, std::optional<rd_kafka_type_t> type) {
  ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [k, v] : props.items()) {
    if (type) {
      const char scope = property_scope(k);
      if ((scope == 'C' && *type == RD_KAFKA_PRODUCER) || (scope == 'P' && *type == RD_KAFKA_CONSUMER)) continue;
    }
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw ConfigError(env_name_for(k) + " (librdkafka property " + k + "): " + err);
  }
  rd_kafka_conf_set_error_cb(conf.get(), on_error);
  rd_kafka_conf_set_log_cb(conf.get(), on_log);
  return conf;
}

}  // namespace

ConfPtr make_conf(const Properties& props, rd_kafka_type_t type) {
  return conf_with(props, type);
}

HandlePtr make_handle(rd_kafka_type_t type, ConfPtr conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (!rk) throw ConfigError(std::string("cannot create a Kafka client: ") + err);
  (void)conf.release();  // rd_kafka_new owns it now
  return HandlePtr(rk);
}

}  // namespace cryptoflow::kafka::native

namespace cryptoflow::kafka {

Properties& Properties::set(std::string key, std::string value) {
  items_.emplace_back(std::move(key), std::move(value));
  return *this;
}

std::optional<std::string> Properties::get(const std::string& key) const {
  std::optional<std::string> out;
  for (const auto& [k, v] : items_)
    if (k == key) out = v;
  return out;
}

bool is_service_link(const std::string& name, const std::string& value) {
  // Kubernetes writes, for a Service named kafka(-x) in the namespace: KAFKA(_X)_SERVICE_HOST=<ip>,
  // KAFKA(_X)_SERVICE_PORT(_<port name>)=<port>, KAFKA(_X)_PORT=tcp://<ip>:<port> and
  // KAFKA(_X)_PORT_<port>_<PROTO>(_PROTO|_PORT|_ADDR)=tcp://<ip>:<port> | tcp | <port> | <ip>.
  // No librdkafka property is named like that; the value's shape is checked as well.
  static const std::regex name_shape(
      R"(KAFKA(_[A-Z0-9_]+)?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT|PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?))");
  static const std::regex value_shape(R"(((tcp|udp|sctp)://)?[0-9a-fA-F.:\[\]]+(:[0-9]+)?|tcp|udp|sctp)");
  return std::regex_match(name, name_shape) && std::regex_match(value, value_shape);
}

Properties Properties::from_config(const Config& config) {
  Properties p;
  const auto servers = config.str("KAFKA_BOOTSTRAP_SERVERS");
  if (split_list(servers).empty())
    throw ConfigError("KAFKA_BOOTSTRAP_SERVERS is empty: name the brokers as host:port,host:port");
  p.set("bootstrap.servers", servers);
  for (const auto& [name, value] : config.env()) {
    if (name.rfind("KAFKA_", 0) != 0 || name == "KAFKA_BOOTSTRAP_SERVERS" || name.size() == 6) continue;
    if (is_service_link(name, value)) {
      log_info("ignoring a Kubernetes service-link variable; set enableServiceLinks: false", {{"variable", name}});
      continue;
    }
    std::string prop;
    for (char c : name.substr(6))
      prop += c == '_' ? '.' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    p.set(prop, value);
  }
  p.validate();
  return p;
}

void Properties::validate() const {
  (void)native::conf_with(*this, std::nullopt);  // every property, whichever client it is for
}

int librdkafka_version() {
  return rd_kafka_version();
}

std::string librdkafka_version_string() {
  return rd_kafka_version_str();
}

std::string env_name_for(const std::string& property) {
  std::string out = "KAFKA_";
  for (char c : property) out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace cryptoflow::kafka
