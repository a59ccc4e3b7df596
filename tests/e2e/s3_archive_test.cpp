// s3-sink end to end, as separate processes: dev-broker, binance-producer replaying Binance's
// recorded XRP/ETH aggTrades over ~35 s, s3-sink and a real S3 API that checks signatures
// (tests/support/moto_s3.py). Mid-run the store goes down and comes back, then the sink is
// killed with -9 and another takes over: every trade must be archived exactly once, under keys
// named as Kafka Connect's S3 sink names them.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <regex>
#include <set>

#include "cryptoflow/http.hpp"
#include "s3_client.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

struct Archived {
  std::vector<std::string> keys;
  std::vector<std::pair<std::string, std::string>> lines;  // key, line
};

Archived read_archive(s3::S3Client& client) {
  Archived a;
  if (!client.list("topics/crypto.trades/", a.keys).ok()) return {};
  for (const auto& key : a.keys) {
    std::string body;
    if (!client.get(key, body).ok()) return {};
    const auto text = gunzip(body);
    if (!text) return {};
    std::size_t at = 0;
    for (auto nl = text->find('\n'); nl != std::string::npos; at = nl + 1, nl = text->find('\n', at))
      a.lines.emplace_back(key, text->substr(at, nl - at));
  }
  return a;
}

}  // namespace

TEST_CASE("s3-sink archives every trade once - through a store outage and a kill -9 - keys as Kafka Connect's") {
  TempDir dir;
  auto log = [&](const std::string& name) { return (dir.path() / name).string(); };
  Process broker({binary("dev-broker")}, {}, log("broker.log"));
  const auto bootstrap = broker.read_line(30s);
  REQUIRE(bootstrap.has_value());
  S3Server store;

  const int port1 = free_port(), port2 = free_port();
  auto sink_env = [&](int port) {
    return std::map<std::string, std::string>{{"KAFKA_BOOTSTRAP_SERVERS", *bootstrap},
                                              {"KAFKA_FETCH_WAIT_MAX_MS", "5"},
                                              {"KAFKA_SESSION_TIMEOUT_MS", "6000"},
                                              {"ADMIN_PORT", std::to_string(port)},
                                              {"LOG_FORMAT", "text"},
                                              {"SINK_TOPICS", "crypto.trades"},
                                              {"S3_BUCKET", store.bucket()},
                                              {"S3_ENDPOINT", store.endpoint()},
                                              {"AWS_ACCESS_KEY_ID", store.access_key_id()},
                                              {"AWS_SECRET_ACCESS_KEY", store.secret_access_key()},
                                              {"S3_FLUSH_RECORDS", "300"},
                                              {"S3_IDLE_CLOSE", "2s"},
                                              {"RETRY_AFTER_MAX", "1s"}};
  };
  auto first =
      std::make_unique<Process>(std::vector<std::string>{binary("s3-sink")}, sink_env(port1), log("sink1.log"));
  Process producer({binary("binance-producer")},
                   {{"KAFKA_BOOTSTRAP_SERVERS", *bootstrap},
                    {"ADMIN_PORT", "0"},
                    {"LOG_FORMAT", "text"},
                    {"REPLAY_FILE", fixture("freqtrade/XRPETH.aggTrade.jsonl")},
                    {"REPLAY_SPEED", "6000"}},  // the 59 recorded hours in ~35 s
                   log("producer.log"));
  HttpClient http;
  const auto objects = [&](int port) { return metric_of(http, port, "cryptoflow_s3_objects_total"); };
  const auto logs = [&] {
    return "sink 1:\n" + read_file(log("sink1.log")) + "\nsink 2:\n" + read_file(log("sink2.log"));
  };

  // The store goes away for a while: the sink says it is not ready, and waits.
  const bool started = eventually([&] { return objects(port1) >= 5; }, 60s);
  INFO(logs());
  REQUIRE(started);
  store.down();
  CHECK(
      eventually([&] { return http.get("http://127.0.0.1:" + std::to_string(port1) + "/readyz").status == 503; }, 30s));
  std::this_thread::sleep_for(2s);
  store.up();
  const double before = objects(port1);
  const bool resumed = eventually([&] { return objects(port1) >= before + 10; }, 60s);
  INFO(logs());
  REQUIRE(resumed);

  // Killed mid-object; another instance takes the partition over from the committed offset.
  first->signal(SIGKILL);
  REQUIRE(first->wait(10s).has_value());
  Process second({binary("s3-sink")}, sink_env(port2), log("sink2.log"));
  REQUIRE(producer.wait(120s) == 0);

  s3::S3Options o;
  o.endpoint = store.endpoint();
  o.bucket = store.bucket();
  o.path_style = true;
  o.credentials = {store.access_key_id(), store.secret_access_key(), ""};
  s3::S3Client client(o, {});
  Archived archived;
  const auto complete = [&] {
    archived = read_archive(client);
    return archived.lines.size() >= 12477 && metric_of(http, port2, "cryptoflow_s3_open_objects") == 0;
  };
  const bool done = eventually(complete, 120s, 1s);
  INFO(logs());
  REQUIRE(done);
  std::this_thread::sleep_for(3s);  // longer than the idle close: nothing more may come
  archived = read_archive(client);

  // Every recorded trade once; each in the object of its hour, named as Connect names it.
  std::map<std::int64_t, int> seen;
  const std::regex name(R"(topics/crypto\.trades/year=(\d{4})/month=(\d\d)/day=(\d\d)/hour=(\d\d)/)"
                        R"(crypto\.trades\+\d\+(\d{10})\.json\.gz)");
  int misplaced = 0;
  for (const auto& [key, line] : archived.lines) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    REQUIRE(d.IsObject());
    ++seen[d["trade_id"].GetInt64()];
    std::smatch m;
    REQUIRE(std::regex_match(key, m, name));
    const std::time_t t = d["trade_time"].GetInt64() / 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    if (std::stoi(m[1]) != tm.tm_year + 1900 || std::stoi(m[2]) != tm.tm_mon + 1 || std::stoi(m[3]) != tm.tm_mday ||
        std::stoi(m[4]) != tm.tm_hour)
      ++misplaced;
  }
  std::set<std::int64_t> expected;
  for (const auto& t : xrpeth_trades()) expected.insert(t.trade_id);
  REQUIRE(expected.size() == 12477);
  CHECK(archived.lines.size() == 12477);
  CHECK(seen.size() == 12477);
  int twice = 0, missing = 0;
  for (const auto& [id, n] : seen) twice += n > 1;
  for (const auto id : expected) missing += seen.count(id) == 0;
  CHECK(twice == 0);
  CHECK(missing == 0);
  CHECK(misplaced == 0);
  CHECK(archived.keys.size() >= 60);  // 59 hours at least, objects of 300 records
  CHECK(read_file(log("sink1.log")).find("store reachable again") != std::string::npos);

  CHECK(second.terminate() == 0);
  CHECK(broker.terminate() == 0);
}
