#include "cryptoflow/runtime/call_budget.hpp"

#include <algorithm>

namespace cryptoflow {

CallBudget::CallBudget(int calls, std::int64_t window_ms)
    : limit_(static_cast<std::size_t>(std::max(1, calls))), window_ms_(window_ms) {}

std::int64_t CallBudget::next_allowed(std::int64_t now_ms) const {
  if (sent_.size() < limit_) return now_ms;
  return std::max(now_ms, sent_.front() + window_ms_);
}

void CallBudget::record(std::int64_t at_ms) {
  sent_.push_back(at_ms);
  while (sent_.size() > limit_) sent_.pop_front();
}

}  // namespace cryptoflow
