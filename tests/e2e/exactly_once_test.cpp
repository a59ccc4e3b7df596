// stream-processor through crashes and rebalances, as separate processes on dev-broker: the final
// candles and moving averages it commits must equal those of an uninterrupted run (the window
// engine fed the same trades in process), each exactly once, none missing.
//
// librdkafka 2.0.2's mock broker accepts transactions but writes no commit/abort markers, so
// read_committed there also returns records of aborted transactions. The reader below therefore
// does what read_committed does on a real broker, with the processor's own commit marker: an
// output counts as committed when the state record with the same cryptoflow.commit tag exists
// (the state record is the last write of its transaction). Records of transactions cut by
// kill -9 are counted separately and must equal committed ones (nothing but replays).
#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/net/http.hpp"
#include "embedded_broker.hpp"
#include "stream-processor/src/candle_engine.hpp"
#include "stream-processor/src/service.hpp"
#include "stream-processor/src/state_store.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

// What flows: trades of `symbols` symbols in turn, `step_ms` apart, into `partition` (all
// partitions by key when none), at `per_second`.
struct Scenario {
  int symbols;
  int trades;
  std::int64_t step_ms;
  std::optional<std::int32_t> partition;
  int per_second;
};
constexpr Scenario kForty{40, 200'000, 36, std::nullopt, 1'200};  // two hours over 24 partitions
constexpr Scenario kFiveThousand{5'000, 90'000, 20, 0, 700};      // 30 minutes, one partition, 2 minutes of feed

constexpr std::int64_t kT0 = 1'735'689'600'000;  // 2025-01-01T00:00:00Z

Trade make_trade(const Scenario& sc, int i) {
  Trade t;
  t.source = "binance";
  t.symbol = "S" + std::to_string(100 + i % sc.symbols) + "USDT";
  t.trade_id = i;
  t.trade_time = t.event_time = t.received_time = kT0 + static_cast<std::int64_t>(i) * sc.step_ms;
  const auto wiggle = static_cast<std::int64_t>((i * 7919L) % 2001) - 1000;  // deterministic walk
  t.price = Decimal::from_units(1'000'000 + (i % sc.symbols) * 10'000 + wiggle, 4);
  t.quantity = Decimal::from_units(1 + (i * 31L) % 5000, 3);
  t.buyer_is_maker = i % 3 == 0;
  return t;
}

processor::EngineOptions engine_options() {
  processor::EngineOptions o{{{"1m", 60'000}, {"5m", 300'000}}, 60'000, 20'000, 12};
  o.sma = processor::MovingAverage{"30s", 30'000, 10'000};
  return o;
}

// The uninterrupted run: every trade in order, then every partition idle.
struct Reference {
  std::map<std::string, std::string> candles;     // "<symbol>:<interval>:<start>" -> JSON
  std::map<std::string, std::string> indicators;  // "<symbol>:<end>" -> JSON
};

Reference reference(const Scenario& sc) {
  processor::CandleEngine e(engine_options());
  std::vector<processor::FromPartition<Candle>> candles;
  std::vector<processor::FromPartition<Indicator>> inds;
  for (int i = 0; i < sc.trades; ++i) {
    REQUIRE_FALSE(e.add(0, make_trade(sc, i), 0).late);
    if (i % 1000 == 999) e.close_windows(0, candles, inds);
  }
  e.close_windows(1'000'000, candles, inds);
  Reference r;
  for (const auto& [p, c] : candles)
    r.candles.emplace(c.symbol + ":" + c.interval + ":" + std::to_string(c.start), to_json(c));
  for (const auto& [p, i] : inds) r.indicators.emplace(i.symbol + ":" + std::to_string(i.end), to_json(i));
  return r;
}

struct Output {
  std::string value;
  std::string tag;
};

// Reads candles, indicators and state records while the test runs (the mock keeps ~5 MB per
// partition, so reading afterwards could miss the oldest).
class Reader {
 public:
  explicit Reader(const std::string& bootstrap)
      : thread_([this, bootstrap] {
          kafka::Properties p;
          p.set("bootstrap.servers", bootstrap).set("fetch.wait.max.ms", "5");
          kafka::KafkaConsumer consumer(p, "exactly-once-reader",
                                        {"crypto.candles", "crypto.indicators", "crypto.processor-state"});
          while (!stop_) {
            auto m = consumer.poll(std::chrono::milliseconds(50));
            if (!m) continue;
            const auto topic = m->topic;
            const auto tag = header_of(*m, processor::kCommitHeader);
            std::lock_guard lock(mu_);
            if (topic == "crypto.processor-state") {
              // A transaction committed when its partition record (the last write) exists; the
              // symbol records before it carry the same tag but do not say so.
              const auto size = m->key.size() + m->value.size();
              state_bytes_ += size;
              if (size > largest_state_record_) {
                largest_state_record_ = size;
                largest_state_value_ = std::string(m->value);
                largest_is_symbol_ = std::count(m->key.begin(), m->key.end(), '/') == 3;
              }
              if (std::count(m->key.begin(), m->key.end(), '/') == 2) {
                committed_.insert(tag);
                ++state_commits_;
              }
              continue;
            }
            const std::string value(m->value);
            if (topic == "crypto.candles") {
              auto c = decode_candle(value);
              if (!c) {
                ++undecodable_;
                continue;
              }
              if (!c.value->final) continue;
              finals_[c.value->symbol + ":" + c.value->interval + ":" + std::to_string(c.value->start)].push_back(
                  Output{value, tag});
            } else {
              auto i = decode_indicator(value);
              if (!i) {
                ++undecodable_;
                continue;
              }
              indicators_[i.value->symbol + ":" + std::to_string(i.value->end)].push_back(Output{value, tag});
            }
          }
        }) {}
  ~Reader() {
    stop_ = true;
    thread_.join();
  }

  struct Tally {
    std::size_t exactly_once = 0, missing = 0, duplicated = 0, wrong = 0, extra = 0;
    std::size_t uncommitted = 0, uncommitted_wrong = 0, undecodable = 0;
    std::string examples;  // the first few problems, for the failure message
  };
  Tally check(const std::map<std::string, std::string>& expected, bool candles) {
    std::lock_guard lock(mu_);
    const auto& got = candles ? finals_ : indicators_;
    Tally t;
    t.undecodable = undecodable_;
    for (const auto& [key, want] : expected) {
      auto it = got.find(key);
      std::size_t committed = 0;
      if (it != got.end())
        for (const auto& o : it->second) {
          if (committed_.count(o.tag)) {
            ++committed;
            if (o.value != want) ++t.wrong;
          } else {
            ++t.uncommitted;
            if (o.value != want) ++t.uncommitted_wrong;
          }
        }
      if (committed == 0) ++t.missing;
      if (committed == 1) ++t.exactly_once;
      if (committed > 1) ++t.duplicated;
      const bool bad =
          committed != 1 || (it != got.end() && std::any_of(it->second.begin(), it->second.end(),
                                                            [&](const Output& o) { return o.value != want; }));
      if (bad && t.examples.size() < 3000) {
        t.examples += "want " + want + "\n";
        if (it != got.end())
          for (const auto& o : it->second)
            t.examples +=
                std::string(committed_.count(o.tag) ? "  committed " : "  cut       ") + o.tag + " " + o.value + "\n";
      }
    }
    for (const auto& [key, outs] : got)
      if (!expected.count(key)) t.extra += outs.size();
    return t;
  }

  // What the state topic took: its largest record, and bytes per partition record (a commit of
  // one input partition).
  std::pair<std::size_t, double> state_figures() {
    std::lock_guard lock(mu_);
    return {largest_state_record_,
            state_commits_ ? static_cast<double>(state_bytes_) / static_cast<double>(state_commits_) : 0.0};
  }
  // The largest state record: its value, and whether its key names a symbol.
  std::pair<std::string, bool> largest_state_record() {
    std::lock_guard lock(mu_);
    return {largest_state_value_, largest_is_symbol_};
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<std::string> committed_;
  std::size_t undecodable_ = 0;
  std::size_t state_bytes_ = 0, largest_state_record_ = 0, state_commits_ = 0;
  std::string largest_state_value_;
  bool largest_is_symbol_ = false;
  std::map<std::string, std::vector<Output>> finals_, indicators_;
  std::thread thread_;
};

// Produces the trades on its own thread: at the scenario's pace until release(), then the rest at
// four times that pace. A test releases the feed once its faults are done: each fault comes while
// trades flow, however long restarts take on a loaded machine, and no test waits out a pace it no
// longer needs. (Unpaced, the 24 partitions are read unevenly enough that the watermark holds
// minutes of windows open: state records twice the size the test bounds.)
class Feeder {
 public:
  Feeder(const std::string& bootstrap, const Scenario& sc)
      : thread_([this, bootstrap, sc] {
          kafka::Properties p;
          p.set("bootstrap.servers", bootstrap);
          MetricsRegistry m;
          kafka::KafkaProducer producer(p, m);
          auto next = std::chrono::steady_clock::now();
          for (int i = 0; i < sc.trades && !stop_; ++i) {
            const auto t = make_trade(sc, i);
            const auto value = to_json(t);
            producer.produce({.topic = "crypto.trades",
                              .key = t.symbol,
                              .value = value,
                              .timestamp = t.trade_time,
                              .partition = sc.partition});
            sent_ = i + 1;
            if (i % 100 == 99) {
              next += std::chrono::microseconds(100'000'000LL / (released_ ? 4 * sc.per_second : sc.per_second));
              std::this_thread::sleep_until(next);
            }
          }
          producer.flush(30s);
          done_ = true;
        }) {}
  ~Feeder() {
    stop_ = true;
    thread_.join();
  }
  void release() { released_ = true; }
  [[nodiscard]] bool done() const { return done_; }
  [[nodiscard]] int sent() const { return sent_; }

 private:
  std::atomic<bool> stop_{false}, done_{false}, released_{false};
  std::atomic<int> sent_{0};
  std::thread thread_;
};

// librdkafka's mock cluster (2.0.2) knows no static membership: an instance restarted after
// kill -9 joins as a new member and the group rebalances once the broker's delay, the session
// timeout less a second, has passed. 3 s keeps a restart to a few seconds; a heartbeat each
// second keeps a live member in the group on a loaded machine.
constexpr const char* kSessionTimeoutMs = "3000";

struct Cluster {
  TempDir dir;
  std::unique_ptr<Process> broker;
  std::string bootstrap;
  HttpClient http;

  explicit Cluster(int partitions) {
    broker = std::make_unique<Process>(
        std::vector<std::string>{binary("dev-broker"), "--partitions", std::to_string(partitions)},
        std::map<std::string, std::string>{}, (dir.path() / "broker.log").string());
    bootstrap = broker->read_line(30s).value_or("");
    REQUIRE(!bootstrap.empty());
  }
  // The processors' environment.
  std::map<std::string, std::string> env(const std::string& txn_id, int admin_port) const {
    return {{"KAFKA_BOOTSTRAP_SERVERS", bootstrap},
            {"KAFKA_FETCH_WAIT_MAX_MS", "5"},
            {"KAFKA_SESSION_TIMEOUT_MS", kSessionTimeoutMs},
            {"KAFKA_HEARTBEAT_INTERVAL_MS", "1000"},
            {"LOG_FORMAT", "text"},
            {"ADMIN_PORT", std::to_string(admin_port)},
            {"CANDLE_INTERVALS", "1m,5m"},
            {"IDLE_TIMEOUT", "10s"},
            {"TRANSACTIONAL_ID", txn_id}};
  }
  std::unique_ptr<Process> processor(const std::string& txn_id, int admin_port, const std::string& log) {
    return std::make_unique<Process>(std::vector<std::string>{binary("stream-processor")}, env(txn_id, admin_port),
                                     (dir.path() / log).string());
  }
  // The processors' options, as they parse them.
  processor::Options options(const std::string& txn_id) const {
    return processor::parse(Config(processor::service_info().vars, env(txn_id, 0)));
  }
  // trades_in_total of a running processor, or -1 when its admin server does not answer.
  std::int64_t trades_in(int admin_port) {
    const auto r = http.get("http://127.0.0.1:" + std::to_string(admin_port) + "/metrics");
    const std::string name = "\ncryptoflow_processor_trades_in_total ";
    const auto at = r.body.find(name);
    return r.ok() && at != std::string::npos ? std::stoll(r.body.substr(at + name.size())) : -1;
  }
  std::string log(const std::string& name) const { return read_file((dir.path() / name).string()); }
};

void expect_exactly_once(Reader& reader, const Reference& ref) {
  const auto candles = reader.check(ref.candles, true);
  const auto inds = reader.check(ref.indicators, false);
  INFO("candles: " << candles.exactly_once << " once, " << candles.missing << " missing, " << candles.duplicated
                   << " duplicated, " << candles.wrong << " wrong, " << candles.extra << " unexpected, "
                   << candles.uncommitted << " from cut transactions");
  INFO("averages: " << inds.exactly_once << " once, " << inds.missing << " missing, " << inds.duplicated
                    << " duplicated, " << inds.wrong << " wrong, " << inds.extra << " unexpected, " << inds.uncommitted
                    << " from cut transactions");
  WARN("candles: " << candles.exactly_once << " of " << ref.candles.size() << " exactly once; " << candles.uncommitted
                   << " more copies from transactions cut by a kill (visible on the mock)");
  WARN("averages: " << inds.exactly_once << " of " << ref.indicators.size() << " exactly once; " << inds.uncommitted
                    << " more copies from cut transactions");
  INFO(candles.examples << inds.examples);
  CHECK(candles.exactly_once == ref.candles.size());
  CHECK(candles.missing == 0);
  CHECK(candles.duplicated == 0);
  CHECK(candles.wrong == 0);
  CHECK(candles.extra == 0);
  CHECK(candles.uncommitted_wrong == 0);
  CHECK(candles.undecodable == 0);
  CHECK(inds.exactly_once == ref.indicators.size());
  CHECK(inds.duplicated == 0);
  CHECK(inds.wrong == 0);
  CHECK(inds.extra == 0);
  CHECK(inds.uncommitted_wrong == 0);
}

bool all_committed(Reader& reader, const Reference& ref) {
  return reader.check(ref.candles, true).exactly_once == ref.candles.size() &&
         reader.check(ref.indicators, false).exactly_once == ref.indicators.size();
}

}  // namespace

namespace {

// Ten kill -9 of the processor at random moments while the trades flow, then one survivor: every
// final candle and moving average committed exactly once, equal to the uninterrupted run.
void crash_test(const Scenario& sc, int partitions, const Reference& ref) {
  Cluster cluster(partitions);
  Reader reader(cluster.bootstrap);
  Feeder feeder(cluster.bootstrap, sc);

  const auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  const int port = free_port();
  int kills = 0;
  std::int64_t last_seen = 0;
  std::vector<double> resumed_s;  // from a kill -9 to the next instance's first trade processed
  std::optional<std::chrono::steady_clock::time_point> killed_at;
  for (; kills < 10; ++kills) {
    auto proc = cluster.processor("sp-crash", port, "processor.log");
    // Let it restore and process something new, then kill it at a random moment.
    const bool started = eventually([&] { return cluster.trades_in(port) > 0; }, 60s, 20ms);
    if (started && killed_at)
      resumed_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - *killed_at).count());
    if (!started) {
      const auto text = cluster.log("processor.log");
      INFO("kill " << kills << "; processor log tail:\n" << text.substr(text.size() > 4000 ? text.size() - 4000 : 0));
      REQUIRE(started);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 2'000)(rng)));
    last_seen = cluster.trades_in(port);
    proc->signal(SIGKILL);
    killed_at = std::chrono::steady_clock::now();
    REQUIRE(proc->wait(10s) == 128 + SIGKILL);
  }
  std::sort(resumed_s.begin(), resumed_s.end());
  REQUIRE(resumed_s.size() == 9);
  // Of which the restores (reading the state back): the "state restored ... ms=" log lines.
  double restore_max_ms = 0;
  const auto text = cluster.log("processor.log");
  for (auto at = text.find("state restored"); at != std::string::npos; at = text.find("state restored", at + 1))
    if (const auto ms = text.find(" ms=", at); ms != std::string::npos && ms < text.find('\n', at))
      restore_max_ms = std::max(restore_max_ms, std::stod(text.substr(ms + 4)));
  WARN("kill -9 to processing again (restart included): median "
       << resumed_s[4] << " s, max " << resumed_s.back() << " s (KAFKA_SESSION_TIMEOUT_MS=" << kSessionTimeoutMs
       << "); the longest restore " << restore_max_ms << " ms");
  INFO("fed " << feeder.sent() << " trades when the last kill happened; that instance had read " << last_seen);
  CHECK_FALSE(feeder.done());  // every kill came while trades were still flowing at the scenario's pace
  feeder.release();

  auto survivor = cluster.processor("sp-crash", port, "processor.log");
  REQUIRE(eventually([&] { return feeder.done(); }, 300s, 100ms));
  const bool complete = eventually([&] { return all_committed(reader, ref); }, 180s, 500ms);
  const auto log = cluster.log("processor.log");
  INFO("processor log tail:\n" << log.substr(log.size() > 6000 ? log.size() - 6000 : 0));
  CHECK(complete);
  std::this_thread::sleep_for(2s);  // anything more would be a duplicate
  expect_exactly_once(reader, ref);
  const auto [largest, per_commit] = reader.state_figures();
  const auto o = cluster.options("sp-crash");
  const auto bound =
      processor::CandleEngine::max_symbol_snapshot_bytes(o.processor.engine, o.processor.max_clock_skew_ms);
  WARN(sc.symbols << " symbols: the largest state record " << largest << " bytes (the options' estimate of one "
                  << "symbol's state: " << bound << "); " << per_commit << " bytes of state per commit of a partition");
  // The largest state record is one symbol's state, whatever the number of symbols. How full it is
  // depends on how many of its windows are open, which grows while another partition holds the
  // processor's watermark back (a slow machine, a restore): not a size to assert.
  const auto [value, keyed_by_symbol] = reader.largest_state_record();
  CHECK(keyed_by_symbol);
  processor::CandleEngine engine(o.processor.engine);
  engine.restore_partition(0, {}, 0);
  CHECK_NOTHROW(engine.restore_symbol(0, value));
  CHECK(engine.symbols(0).size() == 1);
  CHECK(kills == 10);
  CHECK(survivor->terminate() == 0);
}

}  // namespace

TEST_CASE("Exactly once through ten kill -9 of stream-processor while 200000 trades flow") {
  const auto ref = reference(kForty);
  // Two hours of trades; the watermark ends a minute before the last: 118 1m and 23 5m windows.
  REQUIRE(ref.candles.size() == kForty.symbols * (118 + 23));
  crash_test(kForty, 24, ref);
}

TEST_CASE("Exactly once through ten kill -9 with 5000 symbols on one partition - state records stay small") {
  const auto ref = reference(kFiveThousand);
  crash_test(kFiveThousand, 6, ref);
}

TEST_CASE("Rebalance: a second and third stream-processor join and leave mid-stream - same output") {
  const auto ref = reference(kForty);
  Cluster cluster(24);
  Reader reader(cluster.bootstrap);
  Feeder feeder(cluster.bootstrap, Scenario{kForty.symbols, kForty.trades, kForty.step_ms, std::nullopt, 2'000});

  const int pa = free_port(), pb = free_port(), pc = free_port();
  auto a = cluster.processor("sp-a", pa, "a.log");
  REQUIRE(eventually([&] { return cluster.trades_in(pa) > 0; }, 60s, 50ms));
  auto b = cluster.processor("sp-b", pb, "b.log");
  REQUIRE(eventually([&] { return cluster.trades_in(pb) > 0; }, 60s, 50ms));  // b owns partitions now
  auto c = cluster.processor("sp-c", pc, "c.log");
  REQUIRE(eventually([&] { return cluster.trades_in(pc) > 0; }, 60s, 50ms));
  CHECK_FALSE(feeder.done());
  CHECK(b->terminate() == 0);  // leaves cleanly: commits and hands its partitions over
  c->signal(SIGKILL);          // leaves by crashing: its partitions restore from its last commit
  REQUIRE(c->wait(10s) == 128 + SIGKILL);
  CHECK_FALSE(feeder.done());
  feeder.release();

  REQUIRE(eventually([&] { return feeder.done(); }, 300s, 100ms));
  const bool complete = eventually([&] { return all_committed(reader, ref); }, 180s, 500ms);
  INFO("a log:\n" << cluster.log("a.log").substr(0, 6000));
  CHECK(complete);
  std::this_thread::sleep_for(2s);
  expect_exactly_once(reader, ref);
  CHECK(a->terminate() == 0);
}
