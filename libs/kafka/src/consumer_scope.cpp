#include "cryptoflow/kafka/consumer_scope.hpp"

#include <algorithm>
#include <utility>

#include "cryptoflow/kafka/error.hpp"
#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow::kafka {

ConsumerScope::ConsumerScope(Consumer& consumer, std::vector<std::string> topics, Handlers handlers)
    : consumer_(consumer), topics_(std::move(topics)), handlers_(std::move(handlers)) {}

ConsumerScope::~ConsumerScope() {
  try {
    consumer_.close();  // no callback may reach the owner afterwards
  } catch (...) {       // NOLINT(bugprone-empty-catch): closing a consumer that never joined
  }
}

void ConsumerScope::leave() {
  try {
    consumer_.close();
  } catch (const std::exception& e) {
    log_warn("leaving the group failed", {{"consumer", handlers_.name}, {"error", e.what()}});
  }
}

void ConsumerScope::run(const std::function<bool()>& stop) {
  const auto fail = [&] {
    if (handlers_.failed) handlers_.failed();
  };
  try {
    if (handlers_.start && !handlers_.start()) return;  // stopped before it started
    const auto assigned = [this](const std::vector<TopicPartition>& parts) {
      if (paused_) unpaused_.insert(unpaused_.end(), parts.begin(), parts.end());
      return handlers_.assigned(parts);
    };
    const auto revoked = [this](const std::vector<TopicPartition>& parts, bool lost) {
      for (const auto& tp : parts) std::erase(unpaused_, tp);
      handlers_.revoked(parts, lost);
    };
    consumer_.subscribe(topics_, {assigned, revoked});
    while (!stop() && handlers_.step()) {
    }
    if (handlers_.drain) handlers_.drain();
    consumer_.close();  // the last revocation: the owner commits what is left
  } catch (const Cancelled& e) {
    fail();
    log_info(handlers_.name + " stopped while waiting; nothing committed", {{"at", e.what()}});
    leave();
  } catch (const std::exception& e) {
    fail();  // before leaving: the revocation that close() runs must not commit
    log_error(handlers_.name + " stopping on an error; nothing more is committed", {{"error", e.what()}});
    leave();
    throw;
  }
}

std::optional<Record> ConsumerScope::poll(std::chrono::milliseconds timeout) {
  auto r = consumer_.poll(timeout);
  if (!unpaused_.empty()) consumer_.pause(std::exchange(unpaused_, {}));
  return r;
}

void ConsumerScope::pause() {
  if (paused_) return;
  consumer_.pause(consumer_.assignment());
  paused_ = true;
}

void ConsumerScope::resume() {
  if (!paused_) return;
  consumer_.resume(consumer_.assignment());
  paused_ = false;
  unpaused_.clear();
}

}  // namespace cryptoflow::kafka
