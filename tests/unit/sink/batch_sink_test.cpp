// The sinks' loop (BatchSink) against in-memory Kafka (tests/support/fake_kafka.hpp) and a
// scripted destination: what is written, what is committed, what goes to dead-letter, for the
// failures that matter: a database outage, a revocation while a batch is in flight, a partition
// assigned while paused, a dead-letter record that cannot be delivered.
#include "cryptoflow/sink/batch_sink.hpp"

#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "fake_kafka.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

// Writes the values it is given; "bad" does not encode, "refused" is rejected by the database.
// While `down` it answers retry for everything. Remembers what it wrote, in order.
class ScriptedDestination final : public sink::Destination {
 public:
  std::string encode(const std::string&, std::string_view value, std::string& body) override {
    if (value == "bad") return "not a record";
    if (encode_delay.count() > 0) std::this_thread::sleep_for(encode_delay);
    ++encoded_;
    body.append(value);
    return {};
  }
  sink::WriteOutcome write(const std::string& body, const std::vector<sink::Slice>& slices) override {
    const int encoded_before = encoded_;
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (encoded_ > encoded_before) ++writes_overlapping_encoding;  // the reading thread went on meanwhile
    sink::WriteOutcome out;
    {
      const std::lock_guard lock(mu_);
      ++writes_;
      std::size_t bytes = 0;
      for (const auto& s : slices) bytes += s.end - s.begin;
      largest_write_ = std::max(largest_write_, bytes);
      if (on_write) on_write();
      for (const auto& s : slices) {
        const auto v = body.substr(s.begin, s.end - s.begin);
        if (down) {
          out.items.push_back({sink::Disposition::retry, {}});
        } else if (v == "refused") {
          out.items.push_back({sink::Disposition::rejected, "refused by the database"});
        } else {
          written_.push_back(v);
          out.items.push_back({});
        }
      }
    }
    if (down) out.error = "connection refused";
    return out;
  }
  std::vector<std::string> written() {
    const std::lock_guard lock(mu_);
    return written_;
  }
  int writes() {
    const std::lock_guard lock(mu_);
    return writes_;
  }
  std::size_t largest_write() {
    const std::lock_guard lock(mu_);
    return largest_write_;
  }
  std::atomic<bool> down{false};
  std::atomic<int> writes_overlapping_encoding{0};  // writes during which the next batch was encoded
  std::chrono::milliseconds delay{0};
  std::chrono::microseconds encode_delay{0};
  std::function<void()> on_write;  // runs on the writer thread, under the destination's lock

 private:
  std::atomic<int> encoded_{0};
  std::mutex mu_;
  std::vector<std::string> written_;
  int writes_ = 0;
  std::size_t largest_write_ = 0;
};

sink::SinkOptions options(std::size_t batch = 100) {
  sink::SinkOptions o;
  o.group_id = "sink";
  o.topics = {"in"};
  o.dead_letter_topic = "dlq";
  o.batch_size = batch;
  o.flush_interval = 20ms;
  o.first_backoff = 10ms;
  o.max_backoff = 40ms;
  return o;
}

struct Fixture {
  explicit Fixture(std::int32_t partitions = 1) {
    cluster.create_topic("in", partitions);
    cluster.create_topic("dlq", 1);
  }
  FakeCluster cluster;
  FakeConsumer input{cluster, "sink"};
  FakeProducer dead_letters{cluster, false};
  ScriptedDestination destination;
  MetricsRegistry metrics;
};

// Runs the sink on this thread until pred() holds (or 30 s), then stops it.
void run_until(sink::BatchSink& sink, const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  sink.run([&] { return pred() || std::chrono::steady_clock::now() > deadline; });
}

}  // namespace

TEST_CASE(
    "Batches are written while the next is encoded - committed in order - a bad record committed with its batch") {
  Fixture f;
  std::vector<std::string> expected;
  for (int i = 0; i < 3000; ++i) {
    if (i == 1500) f.cluster.append("in", "k", "bad");
    f.cluster.append("in", "k", "r" + std::to_string(i));
    expected.push_back("r" + std::to_string(i));
  }
  f.destination.delay = 50ms;
  f.destination.encode_delay = 100us;  // 25 ms a batch: encoding the next overlaps a write, or does not
  auto o = options(250);
  sink::BatchSink sink(o, {f.input, f.dead_letters}, f.destination, f.metrics);
  f.input.assign_all();
  run_until(sink, [&] { return f.cluster.group_offsets("sink")[{"in", 0}] == 3001; });
  CHECK(f.destination.written() == expected);  // each once, in order
  CHECK(f.destination.writes_overlapping_encoding > 0);
  CHECK(f.cluster.group_offsets("sink").at({"in", 0}) == 3001);  // the bad record's offset too
  const auto dead = f.cluster.committed_records("dlq");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].value == "bad");
  CHECK(dead[0].header("error") == "not a record");
}

TEST_CASE("A database outage pauses every partition and commits nothing - afterwards everything is written once") {
  Fixture f(2);
  for (int i = 0; i < 40; ++i) f.cluster.append("in", "", "r" + std::to_string(i), 0, i % 2);
  f.destination.down = true;
  sink::BatchSink sink(options(10), {f.input, f.dead_letters}, f.destination, f.metrics);
  f.input.assign_all();
  bool checked_while_down = false;
  run_until(sink, [&] {
    if (f.destination.down && f.destination.writes() >= 5) {
      // Down: paused, not ready, nothing committed, the failing batch retried.
      checked_while_down = f.input.paused({"in", 0}) && f.input.paused({"in", 1}) && !sink.ready() &&
                           f.cluster.group_offsets("sink").empty();
      f.destination.down = false;
    }
    const auto offsets = f.cluster.group_offsets("sink");
    return offsets.size() == 2 && offsets.at({"in", 0}) == 20 && offsets.at({"in", 1}) == 20;
  });
  CHECK(checked_while_down);
  auto written = f.destination.written();
  std::sort(written.begin(), written.end());
  CHECK(written.size() == 40);
  CHECK(std::adjacent_find(written.begin(), written.end()) == written.end());  // none twice
  CHECK(sink.ready());
  CHECK_FALSE(f.input.paused({"in", 0}));
  CHECK(f.metrics.value("cryptoflow_sink_retries_total") > 0);
}

TEST_CASE("A partition assigned while the database is down is paused too: memory stays bounded") {
  Fixture f(2);
  for (int i = 0; i < 10; ++i) f.cluster.append("in", "", "a" + std::to_string(i), 0, 0);
  for (int i = 0; i < 500; ++i) f.cluster.append("in", "", "b" + std::to_string(i), 0, 1);
  f.destination.down = true;
  sink::BatchSink sink(options(10), {f.input, f.dead_letters}, f.destination, f.metrics);
  f.input.assign({{"in", 0}});
  bool assigned_late = false;
  run_until(sink, [&] {
    if (!assigned_late && f.destination.writes() >= 2) {
      f.input.assign({{"in", 1}});
      assigned_late = true;
    }
    return assigned_late && f.destination.writes() >= 10;
  });
  CHECK(f.metrics.value("cryptoflow_sink_records_in_total") <= 20);  // not partition 1's 500
  CHECK(f.cluster.group_offsets("sink").empty());
}

TEST_CASE("A batch is full at batch_bytes - whatever its record count") {
  Fixture f;
  for (int i = 0; i < 1000; ++i) f.cluster.append("in", "k", "record-" + std::to_string(1000 + i));  // 11 bytes
  auto o = options(5000);
  o.batch_bytes = 1100;    // 100 records
  o.flush_interval = 10s;  // only the size closes a batch
  sink::BatchSink sink(o, {f.input, f.dead_letters}, f.destination, f.metrics);
  f.input.assign_all();
  run_until(sink, [&] { return f.destination.written().size() == 1000; });
  CHECK(f.destination.writes() == 10);
  CHECK(f.destination.largest_write() == 1100);
}

TEST_CASE("A partition revoked while its batch is written is not committed by this member") {
  Fixture f(2);
  for (int i = 0; i < 10; ++i) {
    f.cluster.append("in", "", "p0-" + std::to_string(i), 0, 0);
    f.cluster.append("in", "", "p1-" + std::to_string(i), 0, 1);
  }
  std::atomic<bool> writing{false};
  f.destination.delay = 200ms;
  f.destination.on_write = [&] { writing = true; };
  sink::BatchSink sink(options(20), {f.input, f.dead_letters}, f.destination, f.metrics);
  f.input.assign_all();
  bool revoked = false;
  run_until(sink, [&] {
    if (writing && !revoked) {
      // While the batch with partition 1's records is written, partition 1 moves to another
      // member, which commits 4 (its own view): this member must not move that offset.
      f.input.revoke({{"in", 1}});
      f.cluster.commit_offsets("sink", {{{"in", 1}, 4}});
      revoked = true;
    }
    return f.cluster.group_offsets("sink").count({"in", 0}) > 0;
  });
  const auto offsets = f.cluster.group_offsets("sink");
  CHECK(offsets.at({"in", 0}) == 10);
  CHECK(offsets.at({"in", 1}) == 4);            // left to the new owner
  CHECK(f.destination.written().size() == 20);  // written anyway: writes are idempotent
}

TEST_CASE("A record the database refuses goes to dead-letter with the reason - its batch-mates are committed") {
  Fixture f;
  f.cluster.append("in", "k1", "r1");
  f.cluster.append("in", "k2", "refused");
  f.cluster.append("in", "k3", "r3");
  sink::BatchSink sink(options(), {f.input, f.dead_letters}, f.destination, f.metrics);
  f.input.assign_all();
  run_until(sink, [&] { return f.cluster.group_offsets("sink")[{"in", 0}] == 3; });
  CHECK(f.destination.written() == std::vector<std::string>{"r1", "r3"});
  const auto dead = f.cluster.committed_records("dlq");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].key == "k2");
  CHECK(dead[0].header("error") == "refused by the database");
  CHECK(dead[0].header("source.offset") == "1");
  CHECK(f.metrics.value("cryptoflow_sink_rejected_total") == 1);
}

TEST_CASE("A dead-letter record that cannot be delivered stops the sink - its batch is not committed") {
  Fixture f;
  f.cluster.append("in", "k", "r1");
  f.cluster.append("in", "k", "bad");
  f.dead_letters.fail_delivery = [](const kafka::Message&) { return true; };
  sink::BatchSink sink(options(), {f.input, f.dead_letters}, f.destination, f.metrics);
  f.input.assign_all();
  CHECK_THROWS_AS(run_until(sink, [] { return false; }), kafka::KafkaError);
  CHECK(f.cluster.group_offsets("sink").empty());
  CHECK(f.input.closed());
  CHECK_FALSE(sink.ready());
}

TEST_CASE("joined: records back to back are the body itself; with a gap they are copied in order") {
  const std::string body = "aaa\nbb\ncccc\n";
  const std::vector<sink::Slice> all{{0, 4}, {4, 7}, {7, 12}};
  std::string scratch;
  const auto whole = sink::joined(body, all, 0, 3, scratch);
  CHECK(whole == body);
  CHECK(whole.data() == body.data());  // no copy
  CHECK(sink::joined(body, all, 1, 3, scratch) == "bb\ncccc\n");
  CHECK(scratch.empty());
  const std::vector<sink::Slice> gap{{0, 4}, {7, 12}};  // the middle record was dead-lettered
  CHECK(sink::joined(body, gap, 0, 2, scratch) == "aaa\ncccc\n");
  CHECK(scratch == "aaa\ncccc\n");
  CHECK(sink::joined(body, gap, 1, 1, scratch).empty());
}
