// s3-sink end to end, as separate processes: dev-broker, binance-producer replaying Binance's
// recorded XRP/ETH aggTrades over ~35 s, s3-sink and a real S3 API that checks signatures
// (tests/support/moto_s3.py). Mid-run the store goes down and comes back, then the sink is
// killed with -9 and another takes over: every trade must be archived exactly once, under keys
// named as Kafka Connect's S3 sink names them.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "cryptoflow/net/http.hpp"
#include "s3-sink/src/s3_client.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

struct Archived {
  std::vector<std::string> keys;
  std::vector<std::pair<std::string, std::string>> lines;  // key, line
};

// A client of the stand-in, as the sink under test is configured (path-style, its credentials).
s3::S3Options options_for(const S3Server& store) {
  s3::S3Options o;
  o.endpoint = store.endpoint();
  o.bucket = store.bucket();
  o.path_style = true;
  o.credentials = {store.access_key_id(), store.secret_access_key(), ""};
  return o;
}

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

  s3::S3Client client(options_for(store), {});
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

namespace {

// The CoinGecko fixture in euros: every current_price and market_cap times 0.92, written with
// the digits a JSON number may carry (the stand-in answers it for vs_currency=eur).
std::string in_euros(const std::string& usd) {
  std::string out;
  const std::regex field(R"re("(current_price|market_cap)": ([0-9.eE+-]+))re");
  auto at = usd.cbegin();
  for (std::sregex_iterator it(usd.begin(), usd.end(), field), end; it != end; ++it) {
    out.append(at, usd.cbegin() + it->position());
    std::ostringstream v;
    v.precision(12);
    v << std::stod((*it)[2]) * 0.92;
    out += "\"" + (*it)[1].str() + "\": " + v.str();
    at = usd.cbegin() + it->position() + it->length();
  }
  out.append(at, usd.cend());
  return out;
}

}  // namespace

TEST_CASE("The pipeline's topics archived to S3 - and docs/notebooks/history.ipynb executes on a copy") {
  TempDir dir;
  auto log = [&](const std::string& name) { return (dir.path() / name).string(); };
  Process broker({binary("dev-broker")}, {}, log("broker.log"));
  const auto bootstrap = broker.read_line(30s);
  REQUIRE(bootstrap.has_value());
  S3Server store;
  const auto usd = read_file(fixture("coingecko/GetMarketsAsync.txt"));
  const auto eur = in_euros(usd);
  REQUIRE(eur != usd);
  HttpStandIn coingecko([&](const HttpRequest& r) {
    return HttpReply{200, r.target.find("vs_currency=eur") != std::string::npos ? eur : usd, {}};
  });

  const std::map<std::string, std::string> common{
      {"KAFKA_BOOTSTRAP_SERVERS", *bootstrap}, {"KAFKA_FETCH_WAIT_MAX_MS", "5"}, {"LOG_FORMAT", "text"}};
  auto env = [&](std::map<std::string, std::string> extra) {
    extra.insert(common.begin(), common.end());
    return extra;
  };
  const int sink_port = free_port();
  Process sink({binary("s3-sink")},
               env({{"ADMIN_PORT", std::to_string(sink_port)},
                    {"SINK_TOPICS", "crypto.trades,crypto.candles,crypto.indicators,crypto.tickers,crypto.late-trades"},
                    {"S3_BUCKET", store.bucket()},
                    {"S3_ENDPOINT", store.endpoint()},
                    {"AWS_ACCESS_KEY_ID", store.access_key_id()},
                    {"AWS_SECRET_ACCESS_KEY", store.secret_access_key()},
                    {"S3_IDLE_CLOSE", "2s"}}),
               log("sink.log"));
  Process processor({binary("stream-processor")}, env({{"ADMIN_PORT", "0"}, {"CANDLE_INTERVALS", "1m,5m,1h"}}),
                    log("processor.log"));
  Process tickers({binary("coingecko-producer")},
                  env({{"ADMIN_PORT", "0"},
                       {"COINGECKO_URL", coingecko.url()},
                       {"COINGECKO_API_KEY", "CG-e2eKEY"},
                       {"COINGECKO_TOP_N", "100"},
                       {"COINGECKO_POLL_INTERVAL_S", "1"}}),
                  log("tickers.log"));
  Process trades({binary("binance-producer")},
                 env({{"ADMIN_PORT", "0"}, {"REPLAY_FILE", fixture("freqtrade/XRPETH.aggTrade.jsonl")}}),
                 log("trades.log"));
  REQUIRE(trades.wait(120s) == 0);

  // Archived once the sink has stored at least every trade and ticker and then holds nothing
  // open for a while (its idle close is 2 s).
  HttpClient http;
  double last = -1;
  int quiet = 0;
  const bool settled = eventually(
      [&] {
        const auto records = metric_of(http, sink_port, "cryptoflow_s3_records_total");
        const bool idle = metric_of(http, sink_port, "cryptoflow_s3_open_objects") == 0;
        quiet = idle && records == last ? quiet + 1 : 0;
        last = records;
        return records >= 12477 + 200 && quiet >= 4;
      },
      180s, 1s);
  INFO("sink log:\n" << read_file(log("sink.log")));
  REQUIRE(settled);

  // A local copy, laid out as `aws s3 cp --recursive s3://<bucket>/topics ./archive` makes it.
  s3::S3Client client(options_for(store), {});
  std::vector<std::string> keys;
  REQUIRE(client.list("topics/", keys).ok());
  const auto archive = dir.path() / "archive";
  std::set<std::string> topics;
  for (const auto& key : keys) {
    std::string body;
    REQUIRE(client.get(key, body).ok());
    const auto path = archive / key.substr(std::string("topics/").size());
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << body;
    topics.insert(key.substr(7, key.find('/', 7) - 7));
  }
  CHECK(topics == std::set<std::string>{"crypto.candles", "crypto.indicators", "crypto.tickers", "crypto.trades"});

  // The notebook, executed as CI executes it; its figures must come out with something drawn.
  const auto executed_dir = std::filesystem::path(CRYPTOFLOW_BINARY_DIR) / "notebooks";
  const auto result = run({"/usr/bin/python3", "-m", "nbconvert", "--to", "notebook", "--execute",
                           "--ExecutePreprocessor.timeout=300", "--output-dir", executed_dir.string(), "--output",
                           "history.executed", std::string(CRYPTOFLOW_SOURCE_DIR) + "/docs/notebooks/history.ipynb"},
                          {{"ARCHIVE", archive.string()}, {"MPLCONFIGDIR", (dir.path() / "mpl").string()}});
  INFO(result.output);
  REQUIRE(result.code == 0);
  rapidjson::Document nb;
  nb.Parse(read_file((executed_dir / "history.executed.ipynb").string()).c_str());
  REQUIRE(nb.IsObject());
  int figures = 0, errors = 0;
  for (const auto& cell : nb["cells"].GetArray()) {
    if (!cell.HasMember("outputs")) continue;
    for (const auto& out : cell["outputs"].GetArray()) {
      if (std::string(out["output_type"].GetString()) == "error") ++errors;
      if (out.HasMember("data") && out["data"].HasMember("image/png") &&
          out["data"]["image/png"].GetStringLength() > 10'000)  // a plot, not an empty frame
        ++figures;
    }
  }
  CHECK(errors == 0);
  CHECK(figures == 4);
  CHECK(sink.terminate() == 0);
  CHECK(processor.terminate() == 0);
  CHECK(tickers.terminate() == 0);
  CHECK(broker.terminate() == 0);
}
