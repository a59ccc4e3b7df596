#pragma once
// The trade ids of one symbol seen so far, for telling a duplicate (a second producer, a resend,
// a backfill that overlaps) from a new trade: disjoint ranges of ids, above an optional floor
// under which every id counts as seen.
//
// Ids that come in order, or nearly, are one range whatever their number. An id that never
// comes (a trade the exchange could not return) leaves a hole: one more range. Past kMaxRanges
// the lowest range merges into the floor, so holes far below the newest ids count as seen: a
// trade that old would be late anyway. Exact membership, so a bogus far-ahead id costs one
// range and hides nothing.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace cryptoflow::processor {

class IdSet {
 public:
  static constexpr std::size_t kMaxRanges = 16;
  using Range = std::pair<std::int64_t, std::int64_t>;  // [first, last]

  // Adds the id; false (and no change) if it was seen.
  bool insert(std::int64_t id);
  [[nodiscard]] bool contains(std::int64_t id) const;

  [[nodiscard]] std::optional<std::int64_t> floor() const { return floor_; }
  [[nodiscard]] const std::vector<Range>& ranges() const { return ranges_; }
  // From floor() and ranges() as saved; false (and the set unchanged) unless the ranges are
  // sorted, disjoint, not adjacent, above the floor and at most kMaxRanges.
  bool assign(std::optional<std::int64_t> floor, std::vector<Range> ranges);

 private:
  void normalize();
  std::optional<std::int64_t> floor_;
  std::vector<Range> ranges_;  // sorted, disjoint, not adjacent, all above floor_ + 1
};

}  // namespace cryptoflow::processor
