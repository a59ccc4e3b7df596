// The state topic's records and how a restore reads them back (state_store.hpp): which symbol
// records count, on a broker that keeps aborted transactions' records (the embedded one) and on
// one that compacts.
#include "stream-processor/src/state_store.hpp"

#include <catch2/catch.hpp>

using namespace cryptoflow;
using namespace cryptoflow::processor;

namespace {

struct Log {
  std::vector<kafka::Record> records;
  void partition(std::int32_t p, std::uint64_t nonce, std::int64_t seq, std::int64_t next_offset) {
    PartitionRecord r{next_offset, seq, nonce, {1000, 900}, 0};
    add(partition_key("g", "t", p), encode_partition_record(r), commit_tag(p, nonce, seq));
  }
  void symbol(std::int32_t p, const std::string& s, std::uint64_t nonce, std::int64_t seq, const std::string& value) {
    add(symbol_key("g", "t", p, s), value, commit_tag(p, nonce, seq));
  }
  void add(std::string key, std::string value, std::string tag) {
    kafka::Record r;
    r.topic = "state";
    r.offset = static_cast<std::int64_t>(records.size());
    r.key = std::move(key);
    r.value = std::move(value);
    r.headers = {{kCommitHeader, std::move(tag)}};
    records.push_back(std::move(r));
  }
  std::optional<RestoredState> restore(std::int32_t p, std::size_t from = 0) const {
    StateAssembler a("g", "t", p);
    for (std::size_t i = from; i < records.size(); ++i) a.add(records[i]);
    return a.finish();
  }
};

}  // namespace

TEST_CASE("Partition records round-trip - anything else is refused") {
  const PartitionRecord r{123, 7, 0xfeedULL, {1'700'000'000'000, 1'699'999'999'000}, 42};
  const auto bytes = encode_partition_record(r);
  CHECK(decode_partition_record(bytes) == r);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) CHECK_FALSE(decode_partition_record(bytes.substr(0, cut)));
  CHECK_FALSE(decode_partition_record(bytes + "x"));
  CHECK(parse_commit_tag("3/18446744073709551615/9") == CommitTag{3, 18446744073709551615ULL, 9});
  CHECK_FALSE(parse_commit_tag("3/x/9"));
  CHECK_FALSE(parse_commit_tag("3/1"));
  CHECK(symbol_key("g", "t", 2, "BTCUSDT") == "g/t/2/BTCUSDT");
}

TEST_CASE("A restore keeps each symbol's newest committed record - tombstones remove - other partitions skipped") {
  Log log;
  log.symbol(0, "A", 1, 1, "a1");
  log.symbol(0, "B", 1, 1, "b1");
  log.symbol(1, "A", 1, 1, "other partition");
  log.partition(0, 1, 1, 10);
  log.symbol(0, "A", 1, 2, "a2");
  log.symbol(0, "B", 1, 2, "");  // evicted
  log.partition(0, 1, 2, 20);
  const auto s = log.restore(0);
  REQUIRE(s);
  CHECK(s->partition.next_offset == 20);
  CHECK(s->partition.seq == 2);
  CHECK(s->symbols == std::map<std::string, std::string>{{"A", "a2"}});
  CHECK(log.restore(1) == std::nullopt);  // its symbol record, but no partition record
  CHECK_FALSE(log.restore(2));
}

TEST_CASE("Records of a transaction that never committed are ignored (the embedded broker keeps them)") {
  Log log;
  log.symbol(0, "A", 1, 1, "a1");
  log.partition(0, 1, 1, 10);
  log.symbol(0, "A", 1, 2, "killed before its partition record");  // the writer died here
  log.symbol(0, "A", 2, 2, "a2 by the next incarnation");
  log.partition(0, 2, 2, 20);
  log.symbol(0, "A", 2, 3, "written after the newest commit");  // not committed (yet)
  const auto s = log.restore(0);
  REQUIRE(s);
  CHECK(s->symbols.at("A") == "a2 by the next incarnation");
  // Without the second incarnation's record of A, the orphan must still not count.
  Log orphan;
  orphan.symbol(0, "A", 1, 1, "a1");
  orphan.partition(0, 1, 1, 10);
  orphan.symbol(0, "A", 1, 2, "orphan");
  orphan.partition(0, 2, 2, 20);
  CHECK(orphan.restore(0)->symbols.at("A") == "a1");
}

TEST_CASE("A writer killed in its first commit: its records never count - not even once a later commit has its seq") {
  Log log;
  log.symbol(0, "A", 1, 1, "a1");
  log.partition(0, 1, 1, 10);
  log.symbol(0, "A", 2, 2, "by a writer killed in its first commit");  // nonce 2 never committed
  log.symbol(0, "B", 3, 2, "b2");
  log.partition(0, 3, 2, 15);  // the next incarnation's first commit, seq 2 as well, without A
  const auto s = log.restore(0);
  REQUIRE(s);
  CHECK(s->symbols.at("A") == "a1");
  CHECK(s->symbols.at("B") == "b2");
}

TEST_CASE("A compacted topic: a symbol record whose partition records are gone still counts if not newer") {
  Log log;  // compaction kept each key's newest record: A from an old commit, the newest partition record
  log.symbol(0, "A", 5, 3, "a from commit 3");
  log.symbol(0, "B", 7, 9, "b from commit 9");
  log.partition(0, 7, 9, 90);
  const auto s = log.restore(0);
  REQUIRE(s);
  CHECK(s->symbols.at("A") == "a from commit 3");
  CHECK(s->symbols.at("B") == "b from commit 9");
}

TEST_CASE("Where each symbol stands in the log - for the refresh") {
  Log log;
  log.symbol(0, "A", 1, 1, "aaaa");
  log.symbol(0, "B", 1, 1, "bbbb");
  log.partition(0, 1, 1, 10);
  const auto s = log.restore(0);
  REQUIRE(s);
  const auto a = static_cast<std::int64_t>(symbol_key("g", "t", 0, "A").size() + 4);
  const auto b = static_cast<std::int64_t>(symbol_key("g", "t", 0, "B").size() + 4);
  CHECK(s->written_at.at("A") == a);
  CHECK(s->written_at.at("B") == a + b);
  CHECK(s->bytes == a + b + static_cast<std::int64_t>(partition_key("g", "t", 0).size() + 52));
}

namespace {

Trade trade_of(const char* symbol, std::int64_t id, std::int64_t t, const char* price) {
  Trade x;
  x.source = "binance";
  x.symbol = symbol;
  x.trade_id = id;
  x.trade_time = x.event_time = t;
  x.price = *Decimal::parse(price);
  x.quantity = *Decimal::parse("1");
  return x;
}

// What a commit of the store writes, as the state topic would hold it (one commit tag each).
struct Topic {
  Log log;
  StateStore::Write writer(std::int32_t p, std::uint64_t nonce, std::int64_t seq) {
    return [this, p, nonce, seq](const std::string& key, std::string_view value) {
      log.add(key, std::string(value), commit_tag(p, nonce, seq));
    };
  }
};

}  // namespace

TEST_CASE("The state store's two halves - what a commit writes a restore reads back - an abort rewinds to it") {
  const EngineOptions options{{{"1m", 60'000}}, 0, 10'000, 12};
  CandleEngine engine(options);
  StateStore store({"g", "t", 0, 0}, engine);
  store.fresh(0, 100, 1'000);
  CHECK(store.at(0).next_offset == 100);
  engine.add(0, trade_of("AAA", 1, 1'700'000'000'000, "10"), 1'000);
  engine.add(0, trade_of("BBB", 1, 1'700'000'000'100, "20"), 1'000);
  store.at(0).next_offset = 102;

  // A commit: each changed symbol, then the partition record, last.
  Topic topic;
  std::map<std::int32_t, StateStore::Pending> pending;
  pending[0] = store.write(0, 7, topic.writer(0, 7, 1));
  REQUIRE(topic.log.records.size() == 3);
  CHECK(topic.log.records[0].key == symbol_key("g", "t", 0, "AAA"));
  CHECK(topic.log.records[1].key == symbol_key("g", "t", 0, "BBB"));
  CHECK(topic.log.records[2].key == partition_key("g", "t", 0));
  CHECK(pending[0].record == PartitionRecord{102, 1, 7, engine.partition_meta(0), 2});
  CHECK(store.at(0).symbols.empty());  // nothing is the state before the commit succeeded
  store.committed(pending);
  CHECK(store.at(0).committed.seq == 1);
  CHECK(store.at(0).symbols.size() == 2);

  // Read back by the other half into a second engine and store: the same state.
  const auto restored = topic.log.restore(0);
  REQUIRE(restored);
  CandleEngine engine2(options);
  StateStore store2({"g", "t", 0, 0}, engine2);
  store2.restored(0, *restored, false, 1'000);
  CHECK(store2.at(0).next_offset == 102);
  CHECK(store2.at(0).committed == store.at(0).committed);
  CHECK(store2.at(0).symbols == store.at(0).symbols);
  CHECK(engine2.snapshot_symbol("AAA") == engine.snapshot_symbol("AAA"));

  // Work after the commit, then an abort: the engine and the offsets go back to the commit.
  engine.add(0, trade_of("AAA", 2, 1'700'000'000'200, "11"), 1'000);
  store.at(0).next_offset = 103;
  const auto before = store.at(0).symbols.at("AAA");
  CHECK(engine.snapshot_symbol("AAA") != before);
  const auto offsets = store.rewind(1'000);
  CHECK(offsets == std::map<std::int32_t, std::int64_t>{{0, 102}});
  CHECK(store.at(0).next_offset == 102);
  CHECK(engine.snapshot_symbol("AAA") == before);
  CHECK(store.bytes() == before.size() + store.at(0).symbols.at("BBB").size());
}
