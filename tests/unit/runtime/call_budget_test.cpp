#include "cryptoflow/runtime/call_budget.hpp"

#include <catch2/catch.hpp>
#include <random>

#include "test_support.hpp"

using namespace cryptoflow;

TEST_CASE("The call budget holds in every 60-second window") {
  std::mt19937_64 rng(7);
  for (int budget_size : {1, 3, 30}) {
    CallBudget b(budget_size);
    std::vector<std::int64_t> sent;
    std::int64_t now = 1'000'000;
    for (int i = 0; i < 2000; ++i) {
      now += static_cast<std::int64_t>(rng() % 5000);  // callers arrive at random moments
      now = b.next_allowed(now);                       // ... and wait until allowed
      b.record(now);
      sent.push_back(now);
    }
    INFO("budget " << budget_size);
    CHECK(test::max_in_window(sent, 60'000) <= budget_size);
  }
}
