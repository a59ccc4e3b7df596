#include "cryptoflow/runtime/config.hpp"

#include <catch2/catch.hpp>

using namespace cryptoflow;

static Config make(Config::Env env) {
  auto vars = common_vars();
  vars.push_back({"SPEED", "0", "a number"});
  vars.push_back({"WINDOW", "30s", "a duration"});
  vars.push_back({"API", "v2", "v1 or v2"});
  vars.push_back({"LIST", "a, b,,c ", "a list"});
  return Config(vars, std::move(env));
}

TEST_CASE("Config reads the environment and falls back to defaults") {
  auto c = make({{"KAFKA_BOOTSTRAP_SERVERS", "broker:9093"}});
  CHECK(c.str("KAFKA_BOOTSTRAP_SERVERS") == "broker:9093");
  CHECK(c.str("TRADES_TOPIC") == "crypto.trades");
  CHECK(c.integer("ADMIN_PORT", 0, 65535) == 8080);
  CHECK(c.duration_ms("WINDOW") == 30'000);
  CHECK(c.list("LIST") == std::vector<std::string>{"a", "b", "c"});
  CHECK_THROWS_AS(c.str("UNDECLARED"), std::logic_error);
}

TEST_CASE("Bad values are ConfigErrors that name the variable") {
  auto msg = [](Config::Env env, const std::function<void(const Config&)>& f) {
    try {
      f(make(std::move(env)));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(msg({{"API", "v9"}}, [](const Config& c) {
          (void)c.choice("API", {"v1", "v2"});
        }) == "API='v9' is not one of: v1 v2");
  CHECK(msg({{"ADMIN_PORT", "80x"}}, [](const Config& c) { (void)c.integer("ADMIN_PORT", 0, 65535); }) ==
        "ADMIN_PORT='80x' is not an integer");
  CHECK(msg({{"ADMIN_PORT", "70000"}}, [](const Config& c) { (void)c.integer("ADMIN_PORT", 0, 65535); }) ==
        "ADMIN_PORT=70000 is out of range [0, 65535]");
  CHECK(msg({{"KAFKA_BOOTSTRAP_SERVERS", "ftp://x"}}, [](const Config& c) {
          (void)c.http_url("KAFKA_BOOTSTRAP_SERVERS");
        }) == "KAFKA_BOOTSTRAP_SERVERS='ftp://x' has scheme ftp: expected http:// or https://");
  CHECK(make({{"KAFKA_BOOTSTRAP_SERVERS", "https://x"}}).http_url("KAFKA_BOOTSTRAP_SERVERS") == "https://x");
  CHECK(msg({{"WINDOW", "30 seconds"}}, [](const Config& c) {
          (void)c.duration_ms("WINDOW");
        }).find("WINDOW='30 seconds' is not a duration") == 0);
}

TEST_CASE("Durations") {
  CHECK(parse_duration_ms("250ms") == 250);
  CHECK(parse_duration_ms("250") == 250);
  CHECK(parse_duration_ms("1m") == 60'000);
  CHECK(parse_duration_ms("1h") == 3'600'000);
  CHECK(parse_duration_ms("1d") == 86'400'000);
  CHECK(parse_duration_ms("1w") == 604'800'000);
  CHECK(parse_duration_ms("m") == -1);
  CHECK(parse_duration_ms("5y") == -1);
  CHECK(parse_duration_ms("") == -1);
}

TEST_CASE("--help lists every declared variable with its default") {
  auto c = make({});
  const auto help = c.help("svc", "does things");
  for (const auto& v : c.vars()) {
    INFO(v.name);
    CHECK(help.find(v.name) != std::string::npos);
    if (!v.default_value.empty()) CHECK(help.find("[" + v.default_value + "]") != std::string::npos);
  }
}

TEST_CASE("URLs are checked at start: host, port 1-65535, IPv6 literals - the error hides the password") {
  const auto error_of = [](const std::string& url) {
    try {
      (void)parse_url(url, "INFLUX_URL", {"http", "https"});
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("http://") == "INFLUX_URL='http://' has no host");
  CHECK(error_of("http://:8086") == "INFLUX_URL='http://:8086' has no host");
  CHECK(error_of("http://[::1") == "INFLUX_URL='http://[::1' has an IPv6 address without its closing ']'");
  CHECK(error_of("http://localhost:99999") == "INFLUX_URL='http://localhost:99999' has port '99999': 1-65535");
  CHECK(error_of("http://localhost:0/") == "INFLUX_URL='http://localhost:0/' has port '0': 1-65535");
  CHECK(error_of("http://localhost:/") == "INFLUX_URL='http://localhost:/' has ':' but no port");
  CHECK(error_of("http://a:b:c") == "INFLUX_URL='http://a:b:c' has port 'b:c': 1-65535");
  CHECK(error_of("localhost:8086") ==
        "INFLUX_URL='localhost:8086' is not a URL: write http:// or https://host[:port][/path]");
  CHECK(error_of("http://admin:S3cretPW@h:99999") == "INFLUX_URL='http://***@h:99999' has port '99999': 1-65535");
  // curl ends the password at its first '@': refused, with the password kept out of the message.
  CHECK(error_of("http://admin:p@ss@influx:8086") ==
        "INFLUX_URL='http://***@influx:8086' has an '@' in its user or password: write it as %40");
  CHECK(parse_url("http://admin:p%40ss@influx:8086", "X", {"http"}).userinfo == "admin:p%40ss");

  const auto v6 = parse_url("https://user:pw@[2001:db8::1]:8443/x?y=1", "X", {"https"});
  CHECK(v6.host == "2001:db8::1");
  CHECK(v6.port == "8443");
  CHECK(v6.userinfo == "user:pw");
  CHECK(v6.target == "/x?y=1");
  CHECK(v6.authority() == "[2001:db8::1]:8443");
  CHECK(parse_url("HTTP://h", "X", {"http"}).authority() == "h:80");
  CHECK(parse_url("wss://h?q", "X", {"wss"}).target == "/?q");
  CHECK(parse_url("wss://[::1]", "X", {"wss"}).port == "443");
}

TEST_CASE("redact_url hides user info and nothing else") {
  CHECK(redact_url("http://admin:S3cretPW@influx:8086/write?db=x") == "http://***@influx:8086/write?db=x");
  CHECK(redact_url("https://token@es") == "https://***@es");
  CHECK(redact_url("http://influx:8086/x?mail=a@b") == "http://influx:8086/x?mail=a@b");  // '@' after the path
  CHECK(redact_url("http://influx:8086") == "http://influx:8086");
  CHECK(redact_url("not a url @ all") == "not a url @ all");
}
