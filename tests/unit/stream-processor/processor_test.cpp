// The stream processor's commit, abort, rewind, restore and revoke logic against in-memory Kafka
// (tests/support/fake_kafka.hpp): each failure that matters is injected at a fixed commit, and
// what a read_committed reader sees afterwards must equal an uninterrupted run, every final
// candle, average, late trade and dead letter exactly once.
#include "processor.hpp"

#include <catch2/catch.hpp>
#include <map>

#include "cryptoflow/clock.hpp"
#include "cryptoflow/kafka/dead_letter.hpp"
#include "fake_kafka.hpp"
#include "state_store.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using kafka::ErrorKind;
using kafka::TopicPartition;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kBase = 1'699'999'980'000;  // a minute boundary

processor::ProcessorOptions options() {
  processor::ProcessorOptions o;
  o.engine.intervals = {{"1m", 60'000}};
  o.engine.allowed_lateness_ms = 1'000;
  o.engine.idle_timeout_ms = 600'000;  // nothing idles during a test
  o.engine.sma = processor::MovingAverage{"30s", 30'000, 10'000};
  o.transactional_id = "sp-0";
  o.commit_interval = 0ms;  // a commit after every record: failures land at a chosen commit
  o.live_updates = false;
  return o;
}

std::string trade(const std::string& symbol, std::int64_t id, std::int64_t t) {
  Trade x;
  x.source = "binance";
  x.symbol = symbol;
  x.trade_id = id;
  x.trade_time = x.event_time = x.received_time = t;
  x.price = *Decimal::parse(std::to_string(100 + id % 7) + ".5");
  x.quantity = *Decimal::parse("0.25");
  return to_json(x);
}

void feed_topics(FakeCluster& c, std::int32_t trade_partitions) {
  for (const auto& t : {"crypto.candles", "crypto.indicators", "crypto.late-trades", "crypto.dead-letter"})
    c.create_topic(t, 1);
  c.create_topic("crypto.trades", trade_partitions);
  c.create_topic("crypto.processor-state", 2);
}

// Trades of AAA and BBB on partition 0 and CCC on partition 1, one a second for six minutes; a
// malformed record on each partition; a trade five minutes late at the end of partition 0.
void feed(FakeCluster& c) {
  feed_topics(c, 2);
  for (std::int64_t i = 0; i < 360; ++i) {
    c.append("crypto.trades", "AAA", trade("AAA", i, kBase + i * 1000), kBase + i * 1000, 0);
    c.append("crypto.trades", "BBB", trade("BBB", i, kBase + i * 1000 + 500), kBase + i * 1000, 0);
    c.append("crypto.trades", "CCC", trade("CCC", i, kBase + i * 1000 + 250), kBase + i * 1000, 1);
    if (i == 100) {
      c.append("crypto.trades", "AAA", "{\"symbol\":", 0, 0);
      c.append("crypto.trades", "CCC", trade("ccc", i, kBase), 0, 1);  // not upper case
    }
  }
  c.append("crypto.trades", "AAA", trade("AAA", 999, kBase + 60'000), kBase + 60'000, 0);  // late
}

// What a read_committed reader of the outputs sees, as (key, value) per topic; finals only.
struct Output {
  std::multiset<std::pair<std::string, std::string>> finals, averages, late, dead;
  friend bool operator==(const Output&, const Output&) = default;
};

Output output_of(const FakeCluster& c) {
  Output o;
  for (const auto& r : c.committed_records("crypto.candles")) {
    const auto candle = decode_candle(r.value);
    REQUIRE(candle);
    if (candle.value->final) o.finals.emplace(r.key, r.value);
  }
  for (const auto& r : c.committed_records("crypto.indicators")) o.averages.emplace(r.key, r.value);
  for (const auto& r : c.committed_records("crypto.late-trades")) o.late.emplace(r.key, r.value);
  for (const auto& r : c.committed_records("crypto.dead-letter"))
    o.dead.emplace(std::string(r.header("source.partition").value_or("")) + "/" +
                       std::string(r.header("source.offset").value_or("")),
                   std::string(r.header("error").value_or("")));
  return o;
}

bool unique(const std::multiset<std::pair<std::string, std::string>>& s) {
  return std::adjacent_find(s.begin(), s.end()) == s.end();
}

// One processor instance: its own transactional producer and group member on the shared cluster.
struct Instance {
  Instance(FakeCluster& c, const std::string& id, processor::ProcessorOptions o = options())
      : consumer(c, "stream-processor"), producer(c, true), reader(c) {
    o.transactional_id = id;
    processor = std::make_unique<processor::StreamProcessor>(o, processor::ProcessorClients{consumer, producer, reader},
                                                             metrics);
  }
  // Runs until every assigned partition is read and its input committed (or 60 s), or stop().
  void run(
      FakeCluster& c, const std::function<bool()>& stop = [] { return false; }) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    processor->run([&] {
      if (stop() || std::chrono::steady_clock::now() > deadline) return true;
      if (!consumer.idle() || consumer.assignment().empty()) return false;
      const auto committed = c.group_offsets("stream-processor");
      for (const auto& tp : consumer.assignment()) {
        const auto it = committed.find(tp);
        if (it == committed.end() || it->second != c.watermarks(tp).high) return false;
      }
      return true;
    });
  }
  double metric(const char* name) const { return metrics.value(name); }
  FakeConsumer consumer;
  FakeProducer producer;
  FakeReader reader;
  MetricsRegistry metrics;
  std::unique_ptr<processor::StreamProcessor> processor;
};

const Output& reference() {
  static const Output out = [] {
    FakeCluster c;
    feed(c);
    Instance a(c, "sp-ref");
    a.consumer.assign_all();
    a.run(c);
    return output_of(c);
  }();
  return out;
}

}  // namespace

TEST_CASE("Uninterrupted: finals - averages - late trades and dead letters committed once with the offsets") {
  const auto& ref = reference();
  CHECK(ref.finals.size() == 3 * 5);  // minutes 0-4 of three symbols; the sixth is still open
  CHECK(ref.averages.size() > 3 * 25);
  CHECK(ref.late.size() == 1);
  CHECK(ref.dead.size() == 2);
  CHECK(unique(ref.finals));
  CHECK(unique(ref.averages));
}

TEST_CASE("An abortable error in the middle of a commit: aborted - rewound - the output equals an uninterrupted run") {
  FakeCluster c;
  feed(c);
  Instance a(c, "sp-0");
  int commits = 0;
  a.producer.before_commit = [&] {
    if (++commits == 300) a.producer.fail_next_commit = ErrorKind::abortable;
  };
  a.consumer.assign_all();
  a.run(c);
  CHECK(a.producer.aborts() == 1);
  CHECK(a.metric("cryptoflow_processor_transactions_aborted_total") == 1);
  CHECK(output_of(c) == reference());
}

TEST_CASE("A flush that times out: aborted - rewound - the output equals an uninterrupted run") {
  FakeCluster c;
  feed(c);
  Instance a(c, "sp-0");
  int commits = 0;
  a.producer.before_commit = [&] {
    if (++commits == 200) a.producer.flush_timeouts = 1;  // the next commit's first flush
  };
  a.consumer.assign_all();
  a.run(c);
  CHECK(a.producer.aborts() == 1);
  CHECK(output_of(c) == reference());
}

TEST_CASE("One output that cannot be delivered: aborted - rewound - the output equals an uninterrupted run") {
  FakeCluster c;
  feed(c);
  Instance a(c, "sp-0");
  bool failed_once = false;
  a.producer.fail_delivery = [&](const kafka::Message& m) {
    if (failed_once || m.topic != "crypto.candles") return false;
    return failed_once = true;  // the first final candle is lost on its way
  };
  a.consumer.assign_all();
  a.run(c);
  CHECK(failed_once);
  CHECK(a.producer.aborts() == 1);
  CHECK(output_of(c) == reference());
}

TEST_CASE("A fenced producer: run() ends with the fatal error - nothing is committed after it - the group is left") {
  FakeCluster c;
  feed(c);
  Instance a(c, "sp-0");
  int commits = 0;
  kafka::OffsetMap before_fence;
  a.producer.before_commit = [&] {
    if (++commits == 150) {
      before_fence = c.group_offsets("stream-processor");
      a.producer.fence();  // a newer instance with the same transactional id started
    }
  };
  a.consumer.assign_all();
  try {
    a.run(c);
    FAIL("run() returned");
  } catch (const kafka::KafkaError& e) {
    CHECK(e.kind() == ErrorKind::fatal);
  }
  CHECK(a.consumer.closed());
  CHECK(c.group_offsets("stream-processor") == before_fence);  // the revocation committed nothing
  CHECK_FALSE(a.processor->ready());
  const auto out = output_of(c);
  CHECK(unique(out.finals));
  // The newer instance takes over from the last commit: together, exactly the reference.
  Instance b(c, "sp-0-new");
  b.consumer.assign_all();
  b.run(c);
  CHECK(output_of(c) == reference());
}

TEST_CASE("A commit that fails for good: run() ends with the error - leaving the group commits nothing more") {
  FakeCluster c;
  feed(c);
  Instance a(c, "sp-0");
  int commits = 0;
  kafka::OffsetMap before;
  std::size_t finals_before = 0;
  a.producer.before_commit = [&] {
    if (++commits == 120) {
      before = c.group_offsets("stream-processor");
      finals_before = output_of(c).finals.size();
      a.producer.fail_next_commit = ErrorKind::failed;  // e.g. an authorization error
    }
  };
  a.consumer.assign_all();
  CHECK_THROWS_AS(a.run(c), kafka::KafkaError);
  CHECK(a.consumer.closed());
  CHECK(c.group_offsets("stream-processor") == before);
  CHECK(output_of(c).finals.size() == finals_before);
  CHECK(a.producer.commits() == 119);
}

TEST_CASE(
    "A revocation whose commit fails: the partition's new owner restores the last commit - nothing lost or doubled") {
  FakeCluster c;
  feed(c);
  Instance a(c, "sp-0");
  int commits = 0;
  a.producer.before_commit = [&] {
    ++commits;
    if (commits == 250) a.consumer.revoke({{"crypto.trades", 1}});           // delivered by the next poll
    if (commits == 251) a.producer.fail_next_commit = ErrorKind::abortable;  // the revocation's commit
  };
  a.consumer.assign_all();
  a.run(c);  // partition 0 to its end
  CHECK(a.producer.aborts() == 1);
  Instance b(c, "sp-1");
  b.consumer.assign({{"crypto.trades", 1}});
  b.run(c);
  CHECK(b.metric("cryptoflow_processor_partitions_restored_total") == 1);
  CHECK(b.reader.lookups() == 1);
  // A's last commit of partition 1 (before the revocation) is where B started.
  CHECK(output_of(c) == reference());
}

TEST_CASE(
    "A lost partition: its open transaction is aborted and nothing of it committed - the new owner's work stands") {
  FakeCluster c;
  feed(c);
  auto slow = options();
  slow.commit_interval = std::chrono::hours(1);  // commits only when partitions go: work stays open
  FakeConsumer consumer(c, "stream-processor");
  FakeProducer producer(c, true);
  FakeReader reader(c);
  MetricsRegistry metrics;
  processor::StreamProcessor a(slow, {consumer, producer, reader}, metrics);
  consumer.assign_all();
  bool lost = false;
  a.run([&] {
    if (!lost && consumer.idle() && !consumer.assignment().empty()) {
      // A read everything and committed nothing. Its session expires: partition 1 goes to B,
      // which processes and commits it, and only then does A hear that partition 1 is lost.
      Instance b(c, "sp-1");
      b.consumer.assign({{"crypto.trades", 1}});
      b.run(c);
      consumer.revoke({{"crypto.trades", 1}}, true);
      lost = true;
      return false;
    }
    return lost && consumer.idle();  // then A stops and commits what it still owns
  });
  CHECK(lost);
  CHECK(producer.aborts() == 1);
  CHECK(output_of(c) == reference());
}

TEST_CASE("An assignment that arrives while another partition is restored is restored in its turn") {
  FakeCluster c;
  feed(c);
  Instance a(c, "sp-0");
  a.reader.on_newest = [&](const TopicPartition& tp) {
    if (tp.partition == 0 && a.reader.lookups() == 0) a.consumer.assign({{"crypto.trades", 1}});
  };
  a.consumer.assign({{"crypto.trades", 0}});
  a.run(c);
  CHECK(a.metric("cryptoflow_processor_partitions_restored_total") == 2);
  CHECK(output_of(c) == reference());
}

TEST_CASE("A restore that fails (a rebalance callback that throws): run() ends with the error - nothing committed") {
  FakeCluster c;
  feed(c);
  Instance a(c, "sp-0");
  a.reader.on_newest = [](const TopicPartition&) {
    throw kafka::KafkaError(ErrorKind::timed_out, "state topic: restore timed out");
  };
  a.consumer.assign_all();
  CHECK_THROWS_WITH(a.run(c), "state topic: restore timed out");
  CHECK(a.consumer.closed());
  CHECK(c.group_offsets("stream-processor").empty());
  CHECK(output_of(c) == Output{});
  CHECK(a.producer.commits() == 0);
}

TEST_CASE("Restarted from its state: a second instance continues where the first committed") {
  FakeCluster c;
  feed(c);
  {
    Instance a(c, "sp-0");
    int commits = 0;
    a.consumer.assign_all();
    a.run(c, [&] { return ++commits == 500; });  // stops cleanly mid-stream: drains and commits
  }
  Instance b(c, "sp-0");
  b.consumer.assign_all();
  b.run(c);
  CHECK(b.metric("cryptoflow_processor_partitions_restored_total") == 2);
  const auto state = c.committed_records("crypto.processor-state");
  REQUIRE_FALSE(state.empty());
  CHECK(processor::decode_state(state.back().value).has_value());
  CHECK(output_of(c) == reference());
}

TEST_CASE("Windows closed between commits (UPDATE_INTERVAL_MS) reach the state even if a restore comes first") {
  // Partition 0 trades for three minutes, partition 1 lags behind: partition 0's windows can
  // close only when partition 1 catches up, which it does between two commits; then a third
  // partition is assigned (a restore) before the next commit.
  auto make = [](FakeCluster& c) {
    feed_topics(c, 3);
    for (std::int64_t i = 0; i < 180; ++i) c.append("crypto.trades", "AAA", trade("AAA", i, kBase + i * 1000), 0, 0);
    for (std::int64_t i = 0; i < 30; ++i) c.append("crypto.trades", "CCC", trade("CCC", i, kBase + i * 1000), 0, 1);
  };
  auto catch_up = [](FakeCluster& c) {
    for (std::int64_t i = 30; i < 200; ++i) c.append("crypto.trades", "CCC", trade("CCC", i, kBase + i * 1000), 0, 1);
  };
  auto o = options();
  o.commit_interval = std::chrono::hours(1);  // commits only when partitions go: the test says when
  o.update_interval = 1ms;
  FakeCluster c;
  make(c);
  Instance a(c, "sp-0", o);
  const TopicPartition p0{"crypto.trades", 0}, p1{"crypto.trades", 1}, p2{"crypto.trades", 2};
  a.consumer.assign({p0, p1, p2});
  int phase = 0;
  std::size_t candles = 0;
  a.run(c, [&] {
    if (phase == 0 && a.consumer.idle() && a.consumer.assignment().size() == 3) {
      a.consumer.revoke({p2});  // its revocation commits: partitions 0 and 1 as read so far
      phase = 1;
    } else if (phase == 1 && a.consumer.idle() && c.group_offsets("stream-processor").count(p1)) {
      candles = c.written("crypto.candles");
      catch_up(c);  // partition 0's windows close, between commits, without a record of its own
      phase = 2;
    } else if (phase == 2 && c.written("crypto.candles") > candles) {
      a.consumer.assign({p2});  // restored before the next commit
      phase = 3;
    } else if (phase == 3 && a.metric("cryptoflow_processor_partitions_restored_total") >= 4 && a.consumer.idle()) {
      return true;  // partition 2 restored (the predicate is also asked during a restore): stop, drain, commit
    }
    return false;
  });
  REQUIRE(phase == 3);
  // The next instance starts from what was committed: no window twice.
  Instance b(c, "sp-1", o);
  b.consumer.assign({p0, p1});
  b.run(c, [&] { return b.consumer.idle() && !b.consumer.assignment().empty(); });
  FakeCluster plain;
  make(plain);
  catch_up(plain);
  Instance ref(plain, "sp-ref", o);
  ref.consumer.assign({p0, p1});
  ref.run(plain, [&] { return ref.consumer.idle() && !ref.consumer.assignment().empty(); });
  const auto out = output_of(c);
  CHECK(unique(out.finals));
  CHECK(out.finals == output_of(plain).finals);
}

TEST_CASE("A trade stamped 23 h ahead of the clock goes to dead-letter and changes no candle") {
  FakeCluster c;
  feed(c);
  const auto ahead = wall_clock_ms() + 23 * 3'600'000LL;
  // Mid-stream on partition 1; the rest of the data is years old.
  c.append("crypto.trades", "CCC", trade("CCC", 5000, ahead), ahead, 1);
  for (std::int64_t i = 360; i < 370; ++i)
    c.append("crypto.trades", "CCC", trade("CCC", i, kBase + i * 1000 + 250), kBase + i * 1000, 1);
  FakeCluster plain;
  feed(plain);
  for (std::int64_t i = 360; i < 370; ++i)
    plain.append("crypto.trades", "CCC", trade("CCC", i, kBase + i * 1000 + 250), kBase + i * 1000, 1);
  Instance a(c, "sp-0"), ref(plain, "sp-ref");
  a.consumer.assign_all();
  ref.consumer.assign_all();
  a.run(c);
  ref.run(plain);
  auto out = output_of(c);
  const auto expected = output_of(plain);
  CHECK(out.finals == expected.finals);
  CHECK(out.averages == expected.averages);
  CHECK(out.late == expected.late);
  REQUIRE(out.dead.size() == expected.dead.size() + 1);
  const auto outlier = std::find_if(out.dead.begin(), out.dead.end(), [](const auto& d) {
    return d.second.find("field 'trade_time': ") == 0 && d.second.find("ahead of the clock") != std::string::npos;
  });
  CHECK(outlier != out.dead.end());
}

TEST_CASE("A partition with records waiting is not idle: its backlog is not late when it comes") {
  FakeCluster c;
  feed(c);
  auto o = options();
  o.engine.idle_timeout_ms = 50;  // wall-clock quiet for 50 ms would make a partition idle
  Instance a(c, "sp-0", o);
  a.consumer.assign_all();
  bool paused = false, resumed = false;
  std::chrono::steady_clock::time_point paused_at;
  a.run(c, [&] {
    if (!paused && a.metric("cryptoflow_processor_trades_in_total") > 50) {
      a.consumer.pause({{"crypto.trades", 1}});  // its leader is away: records wait, none come
      paused = true;
      paused_at = std::chrono::steady_clock::now();
    }
    if (paused && !resumed && std::chrono::steady_clock::now() - paused_at > 500ms) {
      a.consumer.resume({{"crypto.trades", 1}});  // ten idle timeouts later
      resumed = true;
    }
    return false;
  });
  CHECK(resumed);
  // Partition 1 held the watermark while its records waited: none of its trades is late (and the
  // deliberate late trade of partition 0 is not late either: partition 1 was behind then).
  const auto out = output_of(c);
  CHECK(std::none_of(out.late.begin(), out.late.end(), [](const auto& l) { return l.first == "CCC"; }));
  CHECK(a.metric("cryptoflow_processor_late_trades_total") == 0);
  CHECK(out.finals.size() == reference().finals.size());
  CHECK(unique(out.finals));
}

TEST_CASE("A 250,000-character symbol and a value near 1 MB go to dead-letter - truncated, with their size") {
  FakeCluster c;
  feed(c);
  const std::string long_symbol(250'000, 'A');
  const auto long_trade = trade(long_symbol, 1, kBase + 1000);
  c.append("crypto.trades", "AAA", long_trade, kBase, 0);
  std::string huge = "{\"symbol\":\"" + std::string(1'000'000, 'x') + "\"}";
  c.append("crypto.trades", "AAA", huge, kBase, 0);
  Instance a(c, "sp-0");
  a.consumer.assign_all();
  a.run(c);
  const auto dead = c.committed_records("crypto.dead-letter");
  REQUIRE(dead.size() == 4);  // the two of feed() and these
  const auto& symbol = dead[dead.size() - 2];
  CHECK(symbol.header("error") == "field 'symbol': longer than 30 characters");
  CHECK(symbol.value == long_trade);  // under the bound: whole
  const auto& big = dead.back();
  CHECK(big.value.size() == kafka::kDeadLetterMaxValueBytes);
  CHECK(big.header("original.size") == std::to_string(huge.size()));
  CHECK(big.value == huge.substr(0, kafka::kDeadLetterMaxValueBytes));
  const auto out = output_of(c);
  CHECK(out.finals == reference().finals);
}
