#pragma once
// At most N calls in any window of W milliseconds (CoinGecko: calls per minute; Binance:
// 300 connection attempts per 5 minutes).
//
// A token bucket of N tokens refilled at N per window lets up to 2N calls into one window (a
// full bucket spent at once, then the refill). This keeps the times of the last N calls instead:
// a call may go when the oldest of them is at least W old. That bound holds for every window,
// which the tests check over a simulated hour.
#include <cstdint>
#include <deque>

namespace cryptoflow {

class CallBudget {
 public:
  explicit CallBudget(int calls, std::int64_t window_ms = 60'000);
  // Earliest time (ms, same clock as record) at which one more call stays in budget.
  [[nodiscard]] std::int64_t next_allowed(std::int64_t now_ms) const;
  void record(std::int64_t at_ms);

 private:
  std::size_t limit_;
  std::int64_t window_ms_;
  std::deque<std::int64_t> sent_;  // times of the last `limit_` calls
};

}  // namespace cryptoflow
