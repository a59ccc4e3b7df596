#include "stream-processor/src/id_set.hpp"

#include <catch2/catch.hpp>
#include <limits>
#include <random>
#include <set>

using cryptoflow::processor::IdSet;

TEST_CASE("IdSet: ids in order are one range - a repeat is refused - a hole is one more range") {
  IdSet s;
  for (std::int64_t id = 100; id < 10'100; ++id) REQUIRE(s.insert(id));
  CHECK(s.ranges() == std::vector<IdSet::Range>{{100, 10'099}});
  CHECK_FALSE(s.insert(100));
  CHECK_FALSE(s.insert(5'000));
  CHECK_FALSE(s.insert(10'099));
  CHECK(s.insert(10'101));  // 10'100 never came
  CHECK(s.ranges() == std::vector<IdSet::Range>{{100, 10'099}, {10'101, 10'101}});
  CHECK(s.insert(10'100));  // ... until now: the hole closes
  CHECK(s.ranges() == std::vector<IdSet::Range>{{100, 10'101}});
  CHECK(s.insert(99));  // older than anything seen, and new
  CHECK(s.contains(99));
  CHECK_FALSE(s.contains(98));
}

TEST_CASE("IdSet: a bogus far-ahead id hides no later id") {
  IdSet s;
  for (std::int64_t id = 1; id <= 10; ++id) s.insert(id);
  CHECK(s.insert(1'000'000'000'000));
  for (std::int64_t id = 11; id <= 1000; ++id) REQUIRE(s.insert(id));
  CHECK(s.ranges().size() == 2);
}

TEST_CASE("IdSet: agrees with a plain set on shuffled input - past kMaxRanges the oldest holes count as seen") {
  std::mt19937_64 rng(7);
  std::vector<std::int64_t> ids(5'000);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = 1'000 + static_cast<std::int64_t>(i);
  for (std::size_t i = 0; i + 40 <= ids.size(); i += 40)  // shuffled within blocks of 40
    std::shuffle(ids.begin() + static_cast<std::ptrdiff_t>(i), ids.begin() + static_cast<std::ptrdiff_t>(i + 40), rng);
  IdSet s;
  std::set<std::int64_t> plain;
  for (auto id : ids) {
    CHECK(s.insert(id) == plain.insert(id).second);
    const auto again = ids[std::uniform_int_distribution<std::size_t>(0, ids.size() - 1)(rng)];
    CHECK(s.contains(again) == (plain.count(again) == 1));
  }
  CHECK(s.ranges().size() == 1);
  CHECK_FALSE(s.floor());

  // Every other id missing: more holes than kept ranges.
  IdSet holes;
  for (std::int64_t id = 0; id < 2 * static_cast<std::int64_t>(IdSet::kMaxRanges) + 20; id += 2) holes.insert(id);
  CHECK(holes.ranges().size() == IdSet::kMaxRanges);
  REQUIRE(holes.floor());
  CHECK(holes.contains(1));  // a hole below the floor: treated as seen
  const auto top = holes.ranges().back().second;
  CHECK_FALSE(holes.contains(top - 1));  // a recent hole is still exact
  CHECK(holes.insert(top - 1));
}

TEST_CASE("IdSet: assign refuses ranges out of order - overlapping - or under the floor") {
  IdSet s;
  CHECK(s.assign(5, {{7, 9}, {11, 20}}));
  CHECK(s.contains(3));
  CHECK_FALSE(s.contains(6));
  CHECK_FALSE(s.contains(10));
  CHECK_FALSE(s.assign(std::nullopt, {{11, 20}, {7, 9}}));
  CHECK_FALSE(s.assign(std::nullopt, {{7, 9}, {9, 20}}));
  CHECK_FALSE(s.assign(std::nullopt, {{7, 9}, {10, 20}}));  // adjacent: would be one range
  CHECK_FALSE(s.assign(8, {{7, 9}}));
  CHECK_FALSE(s.assign(std::nullopt, {{9, 7}}));
  CHECK(s.contains(11));  // unchanged by the refusals
  // Saved state is input too: extreme values are refused or kept, never overflow.
  constexpr auto lo = std::numeric_limits<std::int64_t>::min(), hi = std::numeric_limits<std::int64_t>::max();
  CHECK(s.assign(std::nullopt, {{lo, lo}, {hi, hi}}));
  CHECK_FALSE(s.assign(hi, {{hi, hi}}));
  CHECK_FALSE(s.assign(0, {{lo, lo}}));  // under the floor
  CHECK(s.insert(lo + 1));
  CHECK(s.ranges().front() == IdSet::Range{lo, lo + 1});
  CHECK_FALSE(s.insert(hi));
}
