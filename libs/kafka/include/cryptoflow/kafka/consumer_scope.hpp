#pragma once
// The partition lifecycle every consumer-group member of cryptoflow shares (the sinks' BatchSink,
// the stream processor, the S3 archiver), written once, on the model of userver's ConsumerScope.
// The owner gives its handlers; the scope owns the order:
//   run(stop): start() (false: stopped before starting); subscribe with assigned/revoked; step()
//   until stop() is true or step() returns false; drain(); leave the group (close: its last
//   revocation reaches the owner, which commits what it still may).
//   An exception from any of these: failed() (the owner is not ready and commits nothing more),
//   logged with its cause, the consumer leaves the group - its revocation finds a failed owner -
//   and the exception goes on. kafka::Cancelled (a stop while a call blocked) ends run() like a
//   stop, with nothing committed: failed(), logged at info, not rethrown.
//   Destroyed: the consumer is closed, so no callback reaches an owner afterwards. Declare the
//   scope as the owner's last member: it goes first, while everything its handlers use is there.
//   Paused (pause(), e.g. while a database is down): every owned partition, and each one assigned
//   meanwhile as soon as it can be (a partition is paused only once assigned: at the next poll),
//   so nothing new is read until resume(). The owner polls through the scope for that.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cryptoflow/kafka/client.hpp"

namespace cryptoflow::kafka {

class ConsumerScope {
 public:
  struct Handlers {
    std::string name;             // in logs: "stream processor"
    std::function<bool()> start;  // optional
    std::function<OffsetMap(const std::vector<TopicPartition>&)> assigned;
    std::function<void(const std::vector<TopicPartition>&, bool lost)> revoked;
    std::function<bool()> step;    // one turn of the loop; false ends it as a stop would
    std::function<void()> drain;   // optional: after the loop, before leaving the group
    std::function<void()> failed;  // optional: nothing is committed from now on
  };
  ConsumerScope(Consumer& consumer, std::vector<std::string> topics, Handlers handlers);
  ~ConsumerScope();
  ConsumerScope(const ConsumerScope&) = delete;
  ConsumerScope& operator=(const ConsumerScope&) = delete;

  void run(const std::function<bool()>& stop);

  // The consumer's poll, then partitions assigned while paused are paused.
  std::optional<Record> poll(std::chrono::milliseconds timeout);
  void pause();
  void resume();
  [[nodiscard]] bool paused() const { return paused_; }

 private:
  void leave();
  Consumer& consumer_;
  std::vector<std::string> topics_;
  Handlers handlers_;
  bool paused_ = false;
  std::vector<TopicPartition> unpaused_;  // assigned while paused: paused after the poll
};

}  // namespace cryptoflow::kafka
