#include "trades.hpp"

#include <algorithm>
#include <utility>

namespace cryptoflow::gateway {
namespace {

constexpr std::int64_t kAverageSeconds = 300;  // Binance's avgPrice: 5 minutes

std::int64_t second_of(std::int64_t ms) {
  return ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
}

}  // namespace

HeldTrade held(const Trade& t) {
  return {t.trade_id,
          t.first_trade_id.value_or(t.trade_id),
          t.last_trade_id.value_or(t.trade_id),
          t.trade_time,
          t.price,
          t.quantity,
          t.buyer_is_maker};
}

bool extend_run(HeldTrade& run, const HeldTrade& t) {
  if (t.id != run.last_id + 1 || t.time != run.time || t.price != run.price || t.buyer_is_maker != run.buyer_is_maker)
    return false;
  const auto q = run.quantity.checked_add(t.quantity);
  if (!q) return false;
  run.quantity = *q;
  run.last_id = t.id;
  return true;
}

std::optional<HeldTrade> RunFormer::add(const std::string& symbol, const HeldTrade& t) {
  auto it = forming_.find(symbol);
  if (it == forming_.end()) {
    forming_.emplace(symbol, Forming{t});
    return std::nullopt;
  }
  it->second.idle = false;
  if (extend_run(it->second.run, t)) return std::nullopt;
  return std::exchange(it->second.run, t);
}

std::vector<std::pair<std::string, HeldTrade>> RunFormer::tick() {
  std::vector<std::pair<std::string, HeldTrade>> out;
  for (auto it = forming_.begin(); it != forming_.end();) {
    if (!it->second.idle) {
      it->second.idle = true;
      ++it;
      continue;
    }
    out.emplace_back(it->first, it->second.run);
    it = forming_.erase(it);
  }
  return out;
}

TradeApplied TradeStore::apply(const Trade& t) {
  const bool aggregate = t.first_trade_id.has_value();
  std::lock_guard lock(mu_);
  auto it = symbols_.find(t.symbol);
  if (it == symbols_.end()) {
    if (symbols_.size() >= limits_.max_symbols) return TradeApplied::refused;
    it = symbols_.emplace(t.symbol, Symbol{}).first;
    it->second.aggregated = aggregate;
  }
  auto& s = it->second;
  if (s.aggregated != aggregate) return TradeApplied::refused;
  if (!s.trades.empty() && t.trade_id <= s.trades.back().id) return TradeApplied::repeated;
  s.trades.push_back(held(t));
  ++count_;
  while (s.trades.size() > limits_.per_symbol) {
    s.trades.pop_front();
    --count_;
  }
  // The per-second sums: a trade older than the newest second held still counts in its own.
  const auto sec = second_of(t.trade_time);
  const auto quote = t.price.checked_mul(t.quantity);
  if (quote) {
    auto at = std::find_if(s.seconds.rbegin(), s.seconds.rend(), [&](const Second& x) { return x.second <= sec; });
    if (at != s.seconds.rend() && at->second == sec) {
      at->quantity = at->quantity.checked_add(t.quantity).value_or(at->quantity);
      at->quote = at->quote.checked_add(*quote).value_or(at->quote);
    } else {
      s.seconds.insert(at.base(), Second{sec, t.quantity, *quote});
    }
  }
  while (!s.seconds.empty() && s.seconds.front().second <= s.seconds.back().second - kAverageSeconds)
    s.seconds.pop_front();
  return TradeApplied::added;
}

bool TradeStore::has_symbol(const std::string& symbol) const {
  std::lock_guard lock(mu_);
  return symbols_.contains(symbol);
}

bool TradeStore::aggregated(const std::string& symbol) const {
  std::lock_guard lock(mu_);
  const auto it = symbols_.find(symbol);
  return it != symbols_.end() && it->second.aggregated;
}

std::vector<HeldTrade> TradeStore::trades(const std::string& symbol, std::optional<std::int64_t> from_id,
                                          std::size_t limit) const {
  std::lock_guard lock(mu_);
  const auto it = symbols_.find(symbol);
  if (it == symbols_.end()) return {};
  const auto& t = it->second.trades;
  auto first = t.begin();
  if (from_id)
    first =
        std::lower_bound(t.begin(), t.end(), *from_id, [](const HeldTrade& h, std::int64_t id) { return h.id < id; });
  else if (t.size() > limit)
    first = t.end() - static_cast<std::ptrdiff_t>(limit);
  std::vector<HeldTrade> out;
  for (auto i = first; i != t.end() && out.size() < limit; ++i) out.push_back(*i);
  return out;
}

std::vector<HeldTrade> TradeStore::aggregate_runs(const Symbol& s) const {
  if (s.aggregated) return {s.trades.begin(), s.trades.end()};
  std::vector<HeldTrade> out;
  for (const auto& t : s.trades) {
    if (!out.empty() && extend_run(out.back(), t)) continue;
    out.push_back(t);
  }
  return out;
}

std::vector<HeldTrade> TradeStore::aggregates(const AggQuery& q) const {
  std::vector<HeldTrade> all;
  {
    std::lock_guard lock(mu_);
    const auto it = symbols_.find(q.symbol);
    if (it == symbols_.end()) return {};
    all = aggregate_runs(it->second);
  }
  std::vector<HeldTrade> out;
  if (q.from_id) {
    for (const auto& a : all)
      if (a.id >= *q.from_id && out.size() < q.limit) out.push_back(a);
    return out;
  }
  if (q.start || q.end) {
    for (const auto& a : all)
      if ((!q.start || a.time >= *q.start) && (!q.end || a.time <= *q.end) && out.size() < q.limit) out.push_back(a);
    return out;
  }
  const auto skip = all.size() > q.limit ? all.size() - q.limit : 0;
  return {all.begin() + static_cast<std::ptrdiff_t>(skip), all.end()};
}

std::optional<AveragePrice> TradeStore::average(const std::string& symbol, int scale) const {
  std::lock_guard lock(mu_);
  const auto it = symbols_.find(symbol);
  if (it == symbols_.end() || it->second.trades.empty()) return std::nullopt;
  const auto& s = it->second;
  Decimal quantity, quote;
  for (const auto& x : s.seconds) {
    quantity = quantity.checked_add(x.quantity).value_or(quantity);
    quote = quote.checked_add(x.quote).value_or(quote);
  }
  const auto& last = s.trades.back();  // the highest id: Binance's last trade
  AveragePrice a{last.price, last.time};
  if (!quantity.is_zero())
    if (const auto p = quote.divide(quantity, scale)) a.price = *p;
  return a;
}

std::optional<HeldTrade> TradeStore::last(const std::string& symbol) const {
  std::lock_guard lock(mu_);
  const auto it = symbols_.find(symbol);
  if (it == symbols_.end() || it->second.trades.empty()) return std::nullopt;
  return it->second.trades.back();
}

std::size_t TradeStore::size() const {
  std::lock_guard lock(mu_);
  return count_;
}

std::size_t TradeStore::symbols() const {
  std::lock_guard lock(mu_);
  return symbols_.size();
}

}  // namespace cryptoflow::gateway
