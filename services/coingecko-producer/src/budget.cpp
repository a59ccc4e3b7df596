#include "budget.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include "cryptoflow/runtime/clock.hpp"

namespace cryptoflow::coingecko {

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
