// FlatMap: the windows' and panes' sorted vector behaves as the std::map it replaced.
#include "stream-processor/src/flat_map.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <random>

using cryptoflow::processor::FlatMap;

TEST_CASE("FlatMap: the same entries in the same order as std::map under random inserts, lookups and front erases") {
  FlatMap<std::int64_t, int> flat;
  std::map<std::int64_t, int> reference;
  std::mt19937_64 rng(7);
  for (int step = 0; step < 20'000; ++step) {
    const auto key = static_cast<std::int64_t>(rng() % 64) - 32;
    switch (rng() % 4) {
      case 0:
      case 1: {
        auto [it, fresh] = flat.try_emplace(key);
        const auto [ref, ref_fresh] = reference.try_emplace(key);
        CHECK(fresh == ref_fresh);
        it->second += step;
        ref->second += step;
        break;
      }
      case 2:
        flat[key] += 1;
        reference[key] += 1;
        break;
      default:  // what closing does: everything before a key goes
        flat.erase(flat.begin(), flat.lower_bound(key));
        reference.erase(reference.begin(), reference.lower_bound(key));
    }
    REQUIRE(flat.size() == reference.size());
  }
  std::vector<std::pair<std::int64_t, int>> a(flat.begin(), flat.end()), b(reference.begin(), reference.end());
  CHECK(a == b);
  const auto at = flat.lower_bound(1000);
  CHECK(at == flat.end());
  flat.erase(flat.begin(), flat.end());
  CHECK(flat.empty());
}
