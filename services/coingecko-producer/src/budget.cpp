#include "budget.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include "cryptoflow/clock.hpp"

namespace cryptoflow::coingecko {

CallBudget::CallBudget(int calls_per_minute, std::int64_t window_ms)
    : limit_(static_cast<std::size_t>(std::max(1, calls_per_minute))), window_ms_(window_ms) {}

std::int64_t CallBudget::next_allowed(std::int64_t now_ms) const {
  if (sent_.size() < limit_) return now_ms;
  return std::max(now_ms, sent_.front() + window_ms_);
}

void CallBudget::record(std::int64_t at_ms) {
  sent_.push_back(at_ms);
  while (sent_.size() > limit_) sent_.pop_front();
}

std::int64_t SystemClock::now_ms() {
  return wall_clock_ms();
}

bool SystemClock::sleep_until(std::int64_t until_ms) {
  for (;;) {
    if (stop_ && stop_()) return false;
    const auto left = until_ms - now_ms();
    if (left <= 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<std::int64_t>(left, 100)));
  }
}

}  // namespace cryptoflow::coingecko
