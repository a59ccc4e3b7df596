#include "id_set.hpp"

#include <algorithm>
#include <limits>

namespace cryptoflow::processor {

bool IdSet::contains(std::int64_t id) const {
  if (floor_ && id <= *floor_) return true;
  auto it =
      std::upper_bound(ranges_.begin(), ranges_.end(), id, [](std::int64_t v, const Range& r) { return v < r.first; });
  return it != ranges_.begin() && id <= std::prev(it)->second;
}

bool IdSet::insert(std::int64_t id) {
  if (!ranges_.empty() && ranges_.back().second < id) {  // the usual case: the newest id, or the next one
    if (ranges_.back().second + 1 == id)
      ranges_.back().second = id;
    else
      ranges_.emplace_back(id, id);
    normalize();
    return true;
  }
  if (contains(id)) return false;
  auto next =
      std::upper_bound(ranges_.begin(), ranges_.end(), id, [](std::int64_t v, const Range& r) { return v < r.first; });
  const bool joins_prev = next != ranges_.begin() && std::prev(next)->second + 1 == id;
  const bool joins_next = next != ranges_.end() && id + 1 == next->first;  // id < next->first: no overflow
  if (joins_prev && joins_next) {
    std::prev(next)->second = next->second;
    ranges_.erase(next);
  } else if (joins_prev) {
    std::prev(next)->second = id;
  } else if (joins_next) {
    next->first = id;
  } else {
    ranges_.insert(next, Range{id, id});
  }
  normalize();
  return true;
}

void IdSet::normalize() {
  if (ranges_.size() > kMaxRanges) {
    floor_ = ranges_.front().second;
    ranges_.erase(ranges_.begin());
  }
  // A range that touches the floor joins it.
  while (floor_ && !ranges_.empty() && *floor_ != std::numeric_limits<std::int64_t>::max() &&
         ranges_.front().first <= *floor_ + 1) {
    floor_ = std::max(*floor_, ranges_.front().second);
    ranges_.erase(ranges_.begin());
  }
}

bool IdSet::assign(std::optional<std::int64_t> floor, std::vector<Range> ranges) {
  if (ranges.size() > kMaxRanges) return false;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].first > ranges[i].second) return false;
    // Overlapping or adjacent (the + 1 only runs when below, so it cannot overflow).
    const auto below = i > 0 ? std::optional(ranges[i - 1].second) : floor;
    if (below && (*below >= ranges[i].first || *below + 1 == ranges[i].first)) return false;
  }
  floor_ = floor;
  ranges_ = std::move(ranges);
  return true;
}

}  // namespace cryptoflow::processor
