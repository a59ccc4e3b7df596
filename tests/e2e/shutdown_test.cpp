// Every Kafka-consuming service, started and stopped with SIGTERM at random moments: before it
// has joined its group, while it joins, and after its first assignment. On Debian's librdkafka
// 2.0.2 a consumer destroyed between joining and its first assignment aborted (librdkafka issue
// 4312): 3 of 30 such stops ended in SIGABRT before the workaround in KafkaConsumer.
// Their logs carry no CONFWARN: each Kafka client gets only the KAFKA_ properties of its kind.
#include <catch2/catch.hpp>
#include <csignal>
#include <random>
#include <thread>

#include "embedded_broker.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

// [light]: mostly waiting for processes to start and stop, it runs beside the other e2e tests.
TEST_CASE("Consumers exit 0 on SIGTERM at any moment - 102 start/stop cycles", "[light]") {
  DevBroker broker({1, 0, 6}, {"crypto.trades", "crypto.candles", "crypto.indicators", "crypto.tickers",
                               "crypto.late-trades", "crypto.dead-letter", "crypto.processor-state"});
  const auto nowhere = "http://127.0.0.1:" + std::to_string(free_port());  // the stores are down: no matter
  const std::map<std::string, std::string> common = {{"KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers()},
                                                     {"KAFKA_SESSION_TIMEOUT_MS", "6000"},  // for consumers
                                                     {"KAFKA_LINGER_MS", "5"},              // for producers
                                                     {"INFLUX_URL", nowhere},
                                                     {"ES_URL", nowhere}};
  const auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> moment_ms(0, 6000);  // the group's first assignment comes after ~3-5 s
  TempDir dir;
  int stops = 0, before_assignment = 0;
  // Two lanes of the three services side by side, each service of a lane in a group and with a
  // transactional id of its own: 17 cycles of 6 stops.
  for (int cycle = 0; cycle < 17; ++cycle) {
    struct Run {
      std::string name, log;
      std::unique_ptr<Process> process;
      std::chrono::steady_clock::time_point stop_at;
    };
    std::vector<Run> runs;
    for (int lane = 0; lane < 2; ++lane)
      for (const char* name : {"stream-processor", "influxdb-sink", "elasticsearch-sink"}) {
        const auto log =
            (dir.path() / (std::string(name) + "." + std::to_string(cycle) + "." + std::to_string(lane))).string();
        auto env = common;
        env["ADMIN_PORT"] = std::to_string(free_port());
        env["GROUP_ID"] = std::string(name) + "-" + std::to_string(lane);
        env["TRANSACTIONAL_ID"] = "sp-cycles-" + std::to_string(lane);
        runs.push_back({name, log, std::make_unique<Process>(std::vector<std::string>{binary(name)}, env, log), {}});
      }
    // The moment counts from the admin server's start: SIGTERM before the process has installed
    // its handler (within its first milliseconds) would be the kernel's default action. So that
    // both sides of the first assignment are covered whatever the timing: in the first cycle all
    // stop at once (the group's first assignment takes the broker's 3 s rebalance delay), and in
    // every third cycle the stream-processors' moments count from their first assignment.
    for (auto& r : runs) {
      if (!eventually([&] { return read_file(r.log).find("admin server listening") != std::string::npos; }, 30s, 5ms))
        FAIL(r.name << " in cycle " << cycle << " has no admin server after 30 s:\n" << read_file(r.log));
      if (cycle % 3 == 2 && r.name == "stream-processor")
        REQUIRE(eventually([&] { return read_file(r.log).find("\"partitions assigned\"") != std::string::npos; }, 60s,
                           5ms));
      r.stop_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(cycle == 0 ? 0 : moment_ms(rng));
    }
    std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.stop_at < b.stop_at; });
    for (auto& r : runs) {
      std::this_thread::sleep_until(r.stop_at);
      r.process->signal(SIGTERM);
    }
    for (auto& r : runs) {
      const auto code = r.process->wait(30s);
      const auto text = read_file(r.log);
      INFO(r.name << " in cycle " << cycle << ":\n" << text.substr(text.size() > 2000 ? text.size() - 2000 : 0));
      REQUIRE(code.has_value());
      CHECK(*code == 0);
      // Each Kafka client got only its own kind's properties: librdkafka warned about none.
      CHECK(text.find("CONFWARN") == std::string::npos);
      ++stops;
      if (text.find("\"partitions assigned\"") == std::string::npos) ++before_assignment;
    }
  }
  INFO(before_assignment << " of " << stops << " stops came before the first assignment");
  CHECK(stops == 102);
  CHECK(before_assignment > 0);
  CHECK(before_assignment < stops);
}
