#pragma once
// The CoinGecko call budget (at most N requests in any 60-second window, retries included: see
// cryptoflow/runtime/call_budget.hpp) and an injectable clock.
#include <cstdint>
#include <functional>
#include <utility>

#include "cryptoflow/runtime/call_budget.hpp"

namespace cryptoflow::coingecko {

using cryptoflow::CallBudget;  // at most COINGECKO_CALLS_PER_MINUTE in any 60 s

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
  explicit SystemClock(std::function<bool()> stop) : stop_(std::move(stop)) {}
  std::int64_t now_ms() override;
  bool sleep_until(std::int64_t until_ms) override;

 private:
  std::function<bool()> stop_;
};

}  // namespace cryptoflow::coingecko
