#include "ticker_history.hpp"

#include <algorithm>
#include <limits>

#include "rollup.hpp"

namespace cryptoflow::gateway {

void TickerHistory::add(const Ticker& t) {
  if (!t.price) return;
  const double price = t.price->to_double();
  const auto number = [](const std::optional<Decimal>& d) {
    return d ? d->to_double() : std::numeric_limits<double>::quiet_NaN();
  };
  newest_ = std::max(newest_, t.last_updated);
  for (std::size_t i = 0; i < tiers_.size(); ++i) {
    auto& tier = tiers_[i];
    const auto step = kStep[i];
    const auto start = floor_to(t.last_updated, step);
    if (start < newest_ - kSpan[i]) continue;  // older than this granularity keeps
    auto at = std::lower_bound(tier.begin(), tier.end(), start,
                               [](const TickerBucket& b, std::int64_t s) { return b.start < s; });
    if (at == tier.end() || at->start != start) {
      at = tier.insert(at, TickerBucket{start, t.last_updated, price, price, price, price, number(t.market_cap),
                                        number(t.volume_24h)});
    } else {
      at->high = std::max(at->high, price);
      at->low = std::min(at->low, price);
      if (t.last_updated >= at->time) {  // the newest point of the bucket closes it
        at->time = t.last_updated;
        at->close = price;
        at->market_cap = number(t.market_cap);
        at->volume = number(t.volume_24h);
      }
    }
    while (!tier.empty() && tier.front().start < newest_ - kSpan[i]) tier.pop_front();
  }
}

std::vector<TickerBucket> TickerHistory::buckets(Granularity g, std::int64_t from, std::int64_t to) const {
  const auto& tier = tiers_[static_cast<std::size_t>(g)];
  auto first = std::lower_bound(tier.begin(), tier.end(), from,
                                [](const TickerBucket& b, std::int64_t s) { return b.start < s; });
  std::vector<TickerBucket> out;
  for (; first != tier.end() && first->start <= to; ++first) out.push_back(*first);
  return out;
}

std::size_t TickerHistory::size() const {
  std::size_t n = 0;
  for (const auto& tier : tiers_) n += tier.size();
  return n;
}

}  // namespace cryptoflow::gateway
