#include "cryptoflow/config.hpp"

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
        }) == "KAFKA_BOOTSTRAP_SERVERS='ftp://x' is not an http:// or https:// URL");
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
