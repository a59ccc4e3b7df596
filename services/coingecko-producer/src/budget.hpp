#pragma once
// The CoinGecko call budget: at most N requests in any 60-second window, retries included.
//
// A token bucket of N tokens refilled at N per minute lets up to 2N requests into one 60-second
// window (a full bucket spent at once, then the refill). CoinGecko counts calls per minute, so
// this keeps the time of the last N requests instead: a request may go when the oldest of them
// is at least 60 s old. That bound holds for every window, which the tests check over a
// simulated hour.
#include <cstdint>
#include <deque>

namespace cryptoflow::coingecko {

class CallBudget {
 public:
  explicit CallBudget(int calls_per_minute, std::int64_t window_ms = 60'000);
  // Earliest time (ms, same clock as record) at which one more request stays in budget.
  [[nodiscard]] std::int64_t next_allowed(std::int64_t now_ms) const;
  void record(std::int64_t at_ms);

 private:
  std::size_t limit_;
  std::int64_t window_ms_;
  std::deque<std::int64_t> sent_;  // times of the last `limit_` requests
};

// Time, injectable: the service uses the system clock; tests run an hour in milliseconds.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now_ms() = 0;  // ms since the epoch
  // Sleeps until `until_ms` or until stop; returns false if stopped.
  virtual bool sleep_until(std::int64_t until_ms) = 0;
};

class SystemClock final : public Clock {
 public:
  explicit SystemClock(bool (*stop)()) : stop_(stop) {}
  std::int64_t now_ms() override;
  bool sleep_until(std::int64_t until_ms) override;

 private:
  bool (*stop_)();
};

}  // namespace cryptoflow::coingecko
