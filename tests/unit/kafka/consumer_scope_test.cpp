// ConsumerScope (cryptoflow/kafka/consumer_scope.hpp), the partition lifecycle the sinks, the
// stream processor and the S3 archiver share, against the in-memory consumer: the order of its
// calls, the error policy, and that no callback reaches an owner once its scope is gone.
#include "cryptoflow/kafka/consumer_scope.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>

#include "cryptoflow/kafka/error.hpp"
#include "fake_kafka.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;

namespace {

// An owner that records what reached it, and whose revocation "commits" unless it failed.
struct Owner {
  std::vector<std::string> calls;
  bool failed = false;
  int commits = 0;
  int steps_left = 3;
  std::function<void()> on_step;
  std::unique_ptr<kafka::ConsumerScope> scope;  // last: destroyed first

  explicit Owner(kafka::Consumer& c, bool start_result = true) {
    scope = std::make_unique<kafka::ConsumerScope>(
        c, std::vector<std::string>{"t"},
        kafka::ConsumerScope::Handlers{.name = "test owner",
                                       .start =
                                           [this, start_result] {
                                             calls.push_back("start");
                                             return start_result;
                                           },
                                       .assigned =
                                           [this](const std::vector<kafka::TopicPartition>& parts) {
                                             calls.push_back("assigned " + std::to_string(parts.size()));
                                             return kafka::OffsetMap{};
                                           },
                                       .revoked =
                                           [this](const std::vector<kafka::TopicPartition>& parts, bool) {
                                             calls.push_back("revoked " + std::to_string(parts.size()));
                                             if (!failed) ++commits;
                                           },
                                       .step =
                                           [this] {
                                             calls.push_back("step");
                                             if (on_step) on_step();
                                             return --steps_left > 0;
                                           },
                                       .drain = [this] { calls.push_back("drain"); },
                                       .failed =
                                           [this] {
                                             calls.push_back("failed");
                                             failed = true;
                                           }});
  }
};

struct Fixture {
  FakeCluster cluster;
  FakeConsumer consumer{cluster, "g"};
  Fixture() {
    cluster.create_topic("t", 2);
    consumer.assign_all();
  }
};

}  // namespace

TEST_CASE("ConsumerScope: start, subscribe, steps until one says stop, drain, then leaving the group commits") {
  Fixture f;
  Owner o(f.consumer);
  o.on_step = [&] { (void)f.consumer.poll(std::chrono::milliseconds(0)); };
  o.scope->run([] { return false; });
  CHECK(o.calls == std::vector<std::string>{"start", "step", "assigned 2", "step", "step", "drain", "revoked 2"});
  CHECK(o.commits == 1);
  CHECK(f.consumer.closed());
}

TEST_CASE("ConsumerScope: stop() ends the loop before the next step - start false ends it before subscribing") {
  Fixture f;
  Owner o(f.consumer);
  o.scope->run([] { return true; });
  CHECK(o.calls == std::vector<std::string>{"start", "drain"});

  Fixture g;
  Owner refused(g.consumer, false);
  refused.scope->run([] { return false; });
  CHECK(refused.calls == std::vector<std::string>{"start"});
}

TEST_CASE("ConsumerScope: an error - failed() before the group is left, so the revocation commits nothing - rethrown") {
  Fixture f;
  Owner o(f.consumer);
  o.on_step = [&] {
    (void)f.consumer.poll(std::chrono::milliseconds(0));
    if (o.steps_left == 2) throw std::runtime_error("the database refused the batch for good");
  };
  CHECK_THROWS_WITH(o.scope->run([] { return false; }), "the database refused the batch for good");
  CHECK(o.calls == std::vector<std::string>{"start", "step", "assigned 2", "step", "failed", "revoked 2"});
  CHECK(o.commits == 0);
  CHECK(f.consumer.closed());
}

TEST_CASE("ConsumerScope: kafka::Cancelled is a stop while blocked - failed(), the group left, not rethrown") {
  Fixture f;
  Owner o(f.consumer);
  o.on_step = [&] { throw kafka::Cancelled("restoring partition 3"); };
  CHECK_NOTHROW(o.scope->run([] { return false; }));
  CHECK(o.calls == std::vector<std::string>{"start", "step", "failed"});
  CHECK(f.consumer.closed());
}

TEST_CASE("ConsumerScope: an owner destroyed after an error gets no callback from its consumer") {
  // As s3-sink's run() has it: the consumer outlives the owner. Before the scope, an owner
  // without a destructor of its own left its revocation listener in the consumer, and the
  // consumer's close ran it on the destroyed owner (ASan: stack-use-after-scope).
  Fixture f;
  std::vector<std::string> after;
  {
    Owner o(f.consumer);
    o.on_step = [&] {
      (void)f.consumer.poll(std::chrono::milliseconds(0));  // partitions assigned: a revocation is due
      throw std::runtime_error("boom");
    };
    CHECK_THROWS(o.scope->run([] { return false; }));
    after = o.calls;
  }
  f.consumer.close();  // a consumer still holding the listener would run it on the destroyed owner here
  CHECK(after == std::vector<std::string>{"start", "step", "assigned 2", "failed", "revoked 2"});
  CHECK(f.consumer.closed());
}

TEST_CASE("ConsumerScope: an owner that never ran - its scope closes the consumer when destroyed") {
  Fixture f;
  { Owner o(f.consumer); }
  CHECK(f.consumer.closed());
}

TEST_CASE("ConsumerScope: paused - a partition assigned meanwhile is paused at the next poll - resume reads all") {
  FakeCluster cluster;
  cluster.create_topic("t", 2);
  for (int i = 0; i < 5; ++i) {
    cluster.append("t", "", "a" + std::to_string(i), 0, 0);
    cluster.append("t", "", "b" + std::to_string(i), 0, 1);
  }
  FakeConsumer consumer(cluster, "g");
  consumer.assign({{"t", 0}});
  std::vector<std::string> read;
  int turn = 0;
  std::size_t read_by_turn_4 = 0;
  std::unique_ptr<kafka::ConsumerScope> scope;
  scope = std::make_unique<kafka::ConsumerScope>(
      consumer, std::vector<std::string>{"t"},
      kafka::ConsumerScope::Handlers{
          .name = "test owner",
          .assigned = [](const std::vector<kafka::TopicPartition>&) { return kafka::OffsetMap{}; },
          .revoked = [](const std::vector<kafka::TopicPartition>&, bool) {},
          .step =
              [&] {
                ++turn;
                if (turn == 2) scope->pause();  // partition 0 assigned by the first poll
                if (turn == 3) consumer.assign({{"t", 1}});
                // The poll that delivers an assignment may return one record of it (the partition
                // is paused right after): a0 from before the pause, at most b0, then nothing.
                if (turn == 4) read_by_turn_4 = read.size();
                if (turn == 20) {
                  CHECK(consumer.paused({"t", 0}));
                  CHECK(consumer.paused({"t", 1}));  // assigned while paused: paused as it came
                  CHECK(read_by_turn_4 <= 2);
                  CHECK(read.size() == read_by_turn_4);
                  scope->resume();
                }
                if (auto r = scope->poll(std::chrono::milliseconds(0))) read.push_back(r->value);
                return turn < 60;
              }});
  scope->run([] { return false; });
  CHECK_FALSE(scope->paused());
  CHECK(read.size() == 10);
}
