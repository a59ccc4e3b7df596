#pragma once
// Exponential backoff with "equal jitter", for every retry loop (reconnects, store and database
// outages, REST retries): the n-th delay is uniform in [c/2, c], c = min(max, initial * 2^n), so
// it grows and many clients retrying at once spread out. A Retry-After the server sent is the
// caller's to honour on top (max(delay, retry_after)).
#include <chrono>
#include <cstdint>
#include <random>

namespace cryptoflow {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
          std::uint64_t seed = std::random_device{}());
  // The delay before the next attempt; each call counts one more failure.
  std::chrono::milliseconds next();
  void reset() { failures_ = 0; }  // a success: the next failure starts small again
  [[nodiscard]] int failures() const { return failures_; }

 private:
  std::chrono::milliseconds initial_, max_;
  int failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace cryptoflow
