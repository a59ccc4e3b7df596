// The s3-sink's loop (Archiver) against in-memory Kafka and an in-memory store: which objects
// it writes, under which keys, what it commits, and what a crash, a changed configuration, a
// store outage and a bad record do to that.
#include "s3-sink/src/archiver.hpp"

#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "cryptoflow/net/http.hpp"
#include "fake_kafka.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::s3;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

class MemoryStore final : public Store {
 public:
  struct Object {
    std::string body;
    std::map<std::string, std::string> metadata;
  };
  S3Result put(const std::string& key, const std::string& body,
               const std::map<std::string, std::string>& metadata) override {
    ++calls;
    if (on_call) on_call();
    if (down_status) return {down_status, down_status == 403 ? "SignatureDoesNotMatch" : "", "down", {}};
    objects[key] = {body, metadata};
    ++puts;
    if (after_put) after_put();
    return {200, "", "", {}};
  }
  S3Result head(const std::string& key, ObjectInfo& info) override {
    ++calls;
    if (on_call) on_call();
    if (down_status) return {down_status, "", "down", {}};
    info = {};
    if (const auto it = objects.find(key); it != objects.end()) {
      info.exists = true;
      info.metadata = it->second.metadata;
    }
    return {200, "", "", {}};
  }
  std::map<std::string, Object> objects;
  long down_status = 0;  // answer every call with this status (0: up)
  int puts = 0, calls = 0;
  std::function<void()> after_put;
  std::function<void()> on_call;  // before each call is answered
};

std::string trade(int id, std::int64_t time) {
  return R"({"symbol":"BTCUSDT","trade_id":)" + std::to_string(id) + R"(,"trade_time":)" + std::to_string(time) + "}";
}

ArchiveOptions options(std::size_t records) {
  ArchiveOptions o;
  o.topics = {"trades"};
  o.dead_letter_topic = "dlq";
  o.flush_records = records;
  o.idle_close = 0ms;
  o.first_backoff = 5ms;
  o.max_backoff = 20ms;
  return o;
}

struct Fixture {
  explicit Fixture(std::int32_t partitions = 1) {
    cluster.create_topic("trades", partitions);
    cluster.create_topic("dlq", 1);
  }
  FakeCluster cluster;
  FakeProducer dead_letters{cluster, false};
  MemoryStore store;
  MetricsRegistry metrics;
};

void run_until(Archiver& archiver, const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  archiver.run([&] { return pred() || std::chrono::steady_clock::now() > deadline; });
}

std::vector<std::string> lines(const std::string& gz) {
  const auto text = gunzip(gz);
  REQUIRE(text);
  std::vector<std::string> out;
  std::size_t at = 0;
  for (auto nl = text->find('\n'); nl != std::string::npos; at = nl + 1, nl = text->find('\n', at))
    out.push_back(text->substr(at, nl - at));
  CHECK(at == text->size());  // every line ends with a newline
  return out;
}

// Every line of every stored object, in key order.
std::vector<std::string> archived(const MemoryStore& store) {
  std::vector<std::string> all;
  for (const auto& [key, object] : store.objects)
    for (auto& line : lines(object.body)) all.push_back(line);
  return all;
}

}  // namespace

TEST_CASE("Object keys and time partitions as Kafka Connect's S3 sink names them") {
  CHECK(time_partition("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", 1710000000000) ==
        "year=2024/month=03/day=09/hour=16");
  CHECK(time_partition("YYYY-MM-dd/HH'h'mm", 1710000000000) == "2024-03-09/16h00");
  CHECK(time_partition("'it''s'", 0) == "it's");
  CHECK(time_partition("''YYYY", 0) == "'1970");
  CHECK(time_partition("YYYY/MM/dd", -1) == "1969/12/31");
  CHECK_THROWS_WITH(check_path_format("year=YYYY"), Catch::Contains("quote literal text"));
  CHECK_THROWS(check_path_format("'open"));
  CHECK_NOTHROW(check_path_format("'dt'=YYYY-MM-dd"));
  CHECK(object_key("topics", "crypto.trades", "year=2024/month=03", 3, 12345) ==
        "topics/crypto.trades/year=2024/month=03/crypto.trades+3+0000012345.json.gz");
  CHECK(object_key("", "t", "", 0, 12345678901) == "t/t+0+12345678901.json.gz");
}

TEST_CASE("Event times of the four message kinds - anything not one JSON object is invalid") {
  CHECK(decode(trade(1, 42)).event_time == 42);
  CHECK(decode(R"({"symbol":"X","interval":"1m","start":60000,"end":119999})").event_time == 60000);
  CHECK(decode(R"({"coin":"bitcoin","last_updated":7,"received_time":9})").event_time == 7);
  CHECK(decode(R"({"symbol":"X","kind":"sma","end":5})").event_time == 5);
  CHECK(decode(R"({"symbol":"X"})").valid);
  CHECK_FALSE(decode(R"({"symbol":"X"})").event_time);
  for (const char* bad : {"", "not json", "[1,2]", "{\"a\":1} {\"b\":2}", "{\"a\":", "42"}) {
    INFO(bad);
    CHECK_FALSE(decode(bad).valid);
  }
  const auto pretty = decode("{\n  \"a\": 1,\n  \"trade_time\": 3\n}");
  CHECK(pretty.valid);
  CHECK(pretty.line == R"({"a":1,"trade_time":3})");
  CHECK(decode(trade(1, 42)).line.empty());  // archived as it came
}

TEST_CASE("gzip lines: the same lines give the same bytes however they arrive - mtime 0") {
  std::string text;
  GzipLines a, b;
  for (int i = 0; i < 20000; ++i) {
    const auto line = trade(i, 1710000000000 + i);
    a.add(line);
    text += line + "\n";
  }
  for (int i = 0; i < 20000; ++i) b.add(trade(i, 1710000000000 + i));
  const auto x = a.finish(), y = b.finish();
  CHECK(x == y);
  CHECK(gunzip(x) == text);
  CHECK(x.substr(4, 4) == std::string(4, '\0'));  // no modification time
  CHECK(x.size() * 5 < text.size());
}

TEST_CASE("Objects close by record count and when the hour turns - offsets committed after each is stored") {
  Fixture f;
  const std::int64_t hour = 1710000000000 / 3600000 * 3600000;
  for (int i = 0; i < 25; ++i) f.cluster.append("trades", "BTCUSDT", trade(i, hour + 3600000 - 12 + i));  // 12 before
  FakeConsumer input{f.cluster, "s3"};
  auto o = options(5);
  o.idle_close = 100ms;  // the last three
  Archiver archiver(o, input, f.dead_letters, f.store, f.metrics);
  input.assign_all();
  run_until(archiver, [&] { return f.cluster.group_offsets("s3")[{"trades", 0}] == 25; });
  std::vector<std::string> keys;
  for (const auto& [key, object] : f.store.objects) keys.push_back(key);
  const auto h0 = time_partition("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", hour);
  const auto h1 = time_partition("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", hour + 3600000);
  const auto key = [&](const std::string& h, int start) { return object_key("topics", "trades", h, 0, start); };
  // 0-4, 5-9, 10-11 (the hour turns), 12-16, 17-21, 22-24 (idle)
  CHECK(keys == std::vector<std::string>{key(h0, 0), key(h0, 5), key(h0, 10), key(h1, 12), key(h1, 17), key(h1, 22)});
  CHECK(f.store.objects.at(key(h0, 10)).metadata.at("end-offset") == "11");
  CHECK(f.store.objects.at(key(h1, 22)).metadata.at("records") == "3");
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i) expected.push_back(trade(i, hour + 3600000 - 12 + i));
  auto got = archived(f.store);
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  CHECK(got == expected);
}

TEST_CASE("A replay after a crash ends its objects where the crashed run did - even with other settings") {
  Fixture f;
  for (int i = 0; i < 100; ++i) f.cluster.append("trades", "BTCUSDT", trade(i, 1710000000000 + i));
  std::map<std::string, MemoryStore::Object> first_run;
  {
    // Run 1 cuts every 7 records; only its first commit succeeds, then it dies after 4 objects.
    FakeConsumer input{f.cluster, "s3"};
    Archiver archiver(options(7), input, f.dead_letters, f.store, f.metrics);
    input.assign_all();
    bool first = true;
    f.store.after_put = [&] {
      if (!first) input.fail_next_commit = kafka::ErrorKind::retriable;
      first = false;
    };
    run_until(archiver, [&] { return f.store.puts == 4; });
    first_run = f.store.objects;
  }
  CHECK(f.cluster.group_offsets("s3").at({"trades", 0}) == 7);
  REQUIRE(first_run.size() == 4);
  f.store.after_put = nullptr;
  // Run 2 would cut every 10 (the idle close of run 1 is the same kind of difference).
  FakeConsumer input{f.cluster, "s3"};
  MetricsRegistry metrics;
  auto o = options(10);
  o.idle_close = 100ms;  // the last two
  Archiver archiver(o, input, f.dead_letters, f.store, metrics);
  input.assign_all();
  run_until(archiver, [&] { return f.cluster.group_offsets("s3")[{"trades", 0}] == 100; });
  for (const auto& [key, object] : first_run) CHECK((f.store.objects.at(key).body == object.body));  // same bytes
  CHECK(metrics.value("cryptoflow_s3_adopted_boundaries_total") == 3);
  auto got = archived(f.store);
  CHECK(got.size() == 100);  // every trade once: run 2 cut 28-37, 38-47 ... after the adopted 7-13, 14-20, 21-27
  std::set<std::string> distinct(got.begin(), got.end());
  CHECK(distinct.size() == 100);
  CHECK(f.store.objects.count(object_key("topics", "trades", "year=2024/month=03/day=09/hour=16", 0, 28)) == 1);
}

TEST_CASE("The store down: every partition paused, nothing committed, retried - afterwards every record once") {
  Fixture f(2);
  for (int i = 0; i < 40; ++i) f.cluster.append("trades", "", trade(i, 1710000000000 + i), 0, i % 2);
  f.store.down_status = 503;
  FakeConsumer input{f.cluster, "s3"};
  Archiver archiver(options(5), input, f.dead_letters, f.store, f.metrics);
  input.assign_all();
  int ready_while_down = 0;  // seen by the store itself, as /readyz would see it meanwhile
  f.store.on_call = [&] { ready_while_down += f.store.down_status && f.store.calls > 1 && archiver.ready(); };
  bool checked = false;
  run_until(archiver, [&] {
    if (f.store.down_status && f.store.calls >= 6) {
      checked = input.paused({"trades", 0}) && input.paused({"trades", 1}) && !archiver.ready() &&
                f.cluster.group_offsets("s3").empty();
      f.store.down_status = 0;
    }
    const auto offsets = f.cluster.group_offsets("s3");
    return offsets.size() == 2 && offsets.at({"trades", 0}) == 20 && offsets.at({"trades", 1}) == 20;
  });
  CHECK(checked);
  CHECK(ready_while_down == 0);
  CHECK(archiver.ready());
  CHECK_FALSE(input.paused({"trades", 0}));
  const auto got = archived(f.store);
  CHECK(got.size() == 40);
  CHECK(std::set<std::string>(got.begin(), got.end()).size() == 40);
  CHECK(f.metrics.value("cryptoflow_s3_retries_total") > 0);
}

TEST_CASE("The store down between two PUTs: the sealed object waits, then every record is stored once") {
  Fixture f;
  for (int i = 0; i < 50; ++i) f.cluster.append("trades", "k", trade(i, 1710000000000 + i));
  FakeConsumer input{f.cluster, "s3"};
  Archiver archiver(options(5), input, f.dead_letters, f.store, f.metrics);
  input.assign_all();
  f.store.after_put = [&] {
    if (f.store.puts == 3) f.store.down_status = 500;
  };
  run_until(archiver, [&] {
    if (f.store.down_status && f.store.calls >= 8) {
      CHECK(f.metrics.value("cryptoflow_s3_buffered_bytes") > 0);  // the sealed object, held
      f.store.down_status = 0;
    }
    return f.cluster.group_offsets("s3")[{"trades", 0}] == 50;
  });
  CHECK(f.store.puts == 10);
  CHECK(archived(f.store).size() == 50);
}

TEST_CASE("A record that is not JSON goes to dead-letter and is committed with the object it falls in") {
  Fixture f;
  for (int i = 0; i < 10; ++i) {
    if (i == 3) f.cluster.append("trades", "k", "{broken");
    f.cluster.append("trades", "k", trade(i, 1710000000000 + i));
  }
  FakeConsumer input{f.cluster, "s3"};
  Archiver archiver(options(5), input, f.dead_letters, f.store, f.metrics);
  input.assign_all();
  run_until(archiver, [&] { return f.cluster.group_offsets("s3")[{"trades", 0}] == 11; });
  CHECK(archived(f.store).size() == 10);
  const auto first = f.store.objects.begin()->second;
  CHECK(first.metadata.at("end-offset") == "5");  // 0-2, the bad 3, then 4-5: five records, six offsets
  const auto dead = f.cluster.committed_records("dlq");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].value == "{broken");
}

TEST_CASE("An idle partition's object is closed after idle_close - a busy one is not cut by it") {
  Fixture f;
  for (int i = 0; i < 3; ++i) f.cluster.append("trades", "k", trade(i, 1710000000000 + i));
  FakeConsumer input{f.cluster, "s3"};
  auto o = options(1000);
  o.idle_close = 50ms;
  Archiver archiver(o, input, f.dead_letters, f.store, f.metrics);
  input.assign_all();
  run_until(archiver, [&] { return f.cluster.group_offsets("s3")[{"trades", 0}] == 3; });
  REQUIRE(f.store.objects.size() == 1);
  CHECK(lines(f.store.objects.begin()->second.body).size() == 3);
}

TEST_CASE("A revoked partition's open object is dropped, not stored or committed by this member") {
  Fixture f(2);
  for (int i = 0; i < 6; ++i) f.cluster.append("trades", "", trade(i, 1710000000000 + i), 0, i % 2);
  FakeConsumer input{f.cluster, "s3"};
  Archiver archiver(options(100), input, f.dead_letters, f.store, f.metrics);
  input.assign_all();
  bool revoked = false;
  run_until(archiver, [&] {
    if (!revoked && f.metrics.value("cryptoflow_s3_open_objects") == 2) {
      input.revoke({{"trades", 1}});
      revoked = true;
    }
    return revoked && f.metrics.value("cryptoflow_s3_open_objects") == 1;
  });
  CHECK(revoked);
  CHECK(f.store.objects.empty());
  CHECK(f.cluster.group_offsets("s3").count({"trades", 1}) == 0);
}

// s3-sink's run() declares the consumer before the archiver, so on an error path the archiver is
// destroyed first and the consumer's destructor then leaves the group: the revoke it delivers must
// not reach the destroyed archiver (a use-after-free that AddressSanitizer reports).
TEST_CASE("An archiver destroyed before its consumer after an error gets no callback from it") {
  Fixture f;
  for (int i = 0; i < 3; ++i) f.cluster.append("trades", "BTCUSDT", trade(i, 1710000000000 + i));
  FakeConsumer input{f.cluster, "s3"};
  f.store.on_call = [] { throw std::runtime_error("the store's client failed"); };
  {
    Archiver archiver(options(1), input, f.dead_letters, f.store, f.metrics);
    input.assign_all();
    REQUIRE_THROWS_WITH(run_until(archiver, [] { return false; }), "the store's client failed");
  }
  input.close();  // what the consumer's destructor does: leave the group, revoking what it owns
  CHECK(f.store.objects.empty());
}

TEST_CASE("An implausible event time falls back to the Kafka timestamp - a bad end-offset is not followed") {
  Fixture f;
  f.cluster.append("trades", "k", trade(0, 9'000'000'000'000'000'000), 1710000000000);  // year 285 million
  f.cluster.append("trades", "k", trade(1, -5), 1710000000001);
  // An object in the way whose end-offset is no number: not followed, overwritten.
  const auto key = object_key("topics", "trades", "year=2024/month=03/day=09/hour=16", 0, 0);
  f.store.objects[key] = {"junk", {{"end-offset", "12abc"}}};
  FakeConsumer input{f.cluster, "s3"};
  auto o = options(2);
  Archiver archiver(o, input, f.dead_letters, f.store, f.metrics);
  input.assign_all();
  run_until(archiver, [&] { return f.cluster.group_offsets("s3")[{"trades", 0}] == 2; });
  REQUIRE(f.store.objects.size() == 1);
  CHECK(lines(f.store.objects.at(key).body).size() == 2);
  CHECK(f.metrics.value("cryptoflow_s3_adopted_boundaries_total") == 0);
}

TEST_CASE("Fuzz: record decoding and S3 answers survive 200,000 mutated inputs") {
  const std::vector<std::string> corpus = {
      trade(1, 1710000000000),
      R"({"source":"binance","symbol":"XRPETH","interval":"1m","start":60000,"end":119999,"open":"0.1","final":true})",
      R"({"coin":"bitcoin","vs_currency":"eur","price":"1.5","last_updated":7})",
      "{\n  \"a\": [1, 2, {\"b\": null}],\n  \"end\": 5\n}",
      "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
      "<ListBucketResult><IsTruncated>true</IsTruncated><Key>a&amp;b</Key><NextContinuationToken>x</"
      "NextContinuationToken>"
      "</ListBucketResult>"};
  std::mt19937_64 rng(20261201);
  int valid = 0;
  for (int i = 0; i < 200'000; ++i) {
    std::string s = corpus[rng() % corpus.size()];
    for (int m = static_cast<int>(rng() % 4); m >= 0 && !s.empty(); --m) {
      const auto at = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[at] = static_cast<char>(rng()); break;
        case 1: s.erase(at, 1 + rng() % 8); break;
        case 2: s.insert(at, s.substr(rng() % s.size(), rng() % 16)); break;
        default: s.resize(at); break;
      }
    }
    const auto d = decode(s);
    if (d.valid) {
      ++valid;
      const auto again = decode(d.line.empty() ? s : d.line);  // what is archived decodes the same
      REQUIRE(again.valid);
      REQUIRE(again.event_time == d.event_time);
      REQUIRE(again.line.empty());  // one line
    }
    HttpResponse response;
    response.status = static_cast<long>(rng() % 600);
    response.body = s;
    const auto r = result_of(response);
    REQUIRE((r.ok() || !r.error.empty() || r.status == 404));
    (void)time_partition("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", static_cast<std::int64_t>(rng() >> 12));
  }
  CHECK(valid > 1000);
}
