// The service host: the order of start and stop, readiness through the admin server, stop
// requests, topic creation, and run_service's exit codes.
#include "cryptoflow/runtime/service_host.hpp"

#include <catch2/catch.hpp>
#include <thread>

#include "cryptoflow/net/http.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace std::chrono_literals;

namespace {

Config config_with(Config::Env env) {
  auto vars = common_vars();
  vars.push_back({"WIDGETS", "3", "a service's own variable"});
  return Config(vars, std::move(env));
}

struct RecordingCreator final : TopicCreator {
  void ensure(const std::vector<TopicRequest>& topics, int partitions, int replication_factor,
              const std::function<bool()>&) override {
    for (const auto& t : topics)
      calls.push_back(t.name + "/" + std::to_string(partitions) + "/" + std::to_string(replication_factor) + "/" +
                      (t.config.empty() ? "" : t.config.begin()->second));
  }
  std::vector<std::string>& calls;
  explicit RecordingCreator(std::vector<std::string>& c) : calls(c) {}
};

}  // namespace

TEST_CASE("The admin server answers from the host: liveness at once - readiness from the service's checks") {
  const auto config = config_with({{"ADMIN_PORT", "0"}});
  ServiceHost no_admin(config);
  CHECK(no_admin.admin_port() == 0);  // 0 disables the admin server

  const auto with_admin = config_with({{"ADMIN_PORT", std::to_string(test::free_port())}});
  ServiceHost host(with_admin);
  const auto base = "http://127.0.0.1:" + std::to_string(host.admin_port());
  HttpClient http;
  CHECK(http.get(base + "/healthz").status == 200);
  CHECK(http.get(base + "/readyz").status == 503);  // nothing registered yet
  std::atomic<bool> ready{false};
  {
    const auto check = host.readiness().add("loop", [&] { return ready.load(); });
    CHECK(http.get(base + "/readyz").status == 503);
    ready = true;
    CHECK(http.get(base + "/readyz").status == 200);
    host.metrics().counter("cryptoflow_test_total", "a test").inc(3);
    CHECK(http.get(base + "/metrics").body.find("cryptoflow_test_total 3") != std::string::npos);
  }
  CHECK(http.get(base + "/readyz").status == 503);  // the loop is gone
}

TEST_CASE("Stop requests end sleeps early - topic requests go to the creator with the configured counts") {
  const auto config = config_with({{"ADMIN_PORT", "0"}, {"TOPIC_PARTITIONS", "12"}, {"TOPIC_REPLICATION_FACTOR", "3"}});
  std::vector<std::string> calls;
  ServiceHost host(config, std::make_unique<RecordingCreator>(calls));
  host.ensure_topics({{"a", {}}, {"state", {{"cleanup.policy", "compact"}}}});
  CHECK(calls == std::vector<std::string>{"a/12/3/", "state/12/3/compact"});
  CHECK(host.sleep_for(10ms));
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    host.request_stop();
  });
  const auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(host.sleep_for(30s));
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  CHECK(host.stop_requested());
  CHECK(host.stop_token()());
  stopper.join();
}

namespace {

struct WidgetOptions {
  std::int64_t widgets = 0;
};

int g_run_result = 0;
bool g_run_throws = false;

Service<WidgetOptions> widget_service() {
  auto vars = common_vars();
  vars.push_back({"WIDGETS", "3", "how many"});
  return {{"widget", "A test service.", vars},
          [](const Config& c) { return WidgetOptions{c.integer("WIDGETS", 1, 10)}; },
          [](const WidgetOptions& o, ServiceHost& host) {
            if (g_run_throws) throw std::runtime_error("the database went away");
            CHECK(o.widgets == 3);
            CHECK(host.admin_port() == 0);
            return g_run_result;
          }};
}

int run_widget(std::vector<std::string> args, const std::map<std::string, std::string>& env) {
  for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
  args.insert(args.begin(), "widget");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  const int code = run_service(static_cast<int>(argv.size()), argv.data(), widget_service());
  for (const auto& [k, v] : env) ::unsetenv(k.c_str());
  return code;
}

}  // namespace

TEST_CASE("run_service: the run's code after a clean drain - 2 for bad configuration - 1 for a fatal error") {
  CHECK(run_widget({"--help"}, {}) == 0);
  CHECK(run_widget({"--version"}, {}) == 0);
  CHECK(run_widget({}, {{"ADMIN_PORT", "0"}}) == 0);
  g_run_result = 7;
  CHECK(run_widget({}, {{"ADMIN_PORT", "0"}}) == 7);
  g_run_result = 0;
  CHECK(run_widget({}, {{"ADMIN_PORT", "0"}, {"WIDGETS", "11"}}) == 2);  // the service's own parse
  CHECK(run_widget({}, {{"ADMIN_PORT", "70000"}}) == 2);                 // a common variable
  CHECK(run_widget({"--frobnicate"}, {{"ADMIN_PORT", "0"}}) == 2);       // no arguments taken
  CHECK(run_widget({}, {{"ADMIN_PORT", "0"}, {"LOG_LEVEL", "chatty"}}) == 2);
  g_run_throws = true;
  CHECK(run_widget({}, {{"ADMIN_PORT", "0"}}) == 1);
  g_run_throws = false;
}
