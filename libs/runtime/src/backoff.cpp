#include "cryptoflow/runtime/backoff.hpp"

#include <algorithm>

namespace cryptoflow {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed)
    : initial_(initial), max_(max), rng_(seed) {}

std::chrono::milliseconds Backoff::next() {
  const auto shift = std::min(failures_, 20);
  const auto ceiling = std::min<std::int64_t>(max_.count(), initial_.count() << shift);
  ++failures_;
  std::uniform_int_distribution<std::int64_t> d(ceiling / 2, ceiling);
  return std::chrono::milliseconds(d(rng_));
}

}  // namespace cryptoflow
