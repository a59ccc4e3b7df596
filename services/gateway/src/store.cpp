#include "store.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

namespace cryptoflow::gateway {

std::int64_t interval_ms(std::string_view interval) {
  static constexpr std::array<std::pair<std::string_view, std::int64_t>, 16> known{{
      {"1s", 1'000},
      {"1m", 60'000},
      {"3m", 180'000},
      {"5m", 300'000},
      {"15m", 900'000},
      {"30m", 1'800'000},
      {"1h", 3'600'000},
      {"2h", 7'200'000},
      {"4h", 14'400'000},
      {"6h", 21'600'000},
      {"8h", 28'800'000},
      {"12h", 43'200'000},
      {"1d", 86'400'000},
      {"3d", 259'200'000},
      {"1w", 604'800'000},
      {"1M", 2'592'000'000},
  }};
  for (const auto& [name, ms] : known)
    if (name == interval) return ms;
  return 0;
}

namespace {

constexpr std::size_t kFields = 9;

// The candle's decimals in the packed order (const Candle: pointers to const).
template <class C>
auto fields_of(C& c) {
  return std::array{&c.open,
                    &c.high,
                    &c.low,
                    &c.close,
                    &c.volume,
                    &c.quote_volume,
                    &c.taker_buy_volume,
                    &c.vwap,
                    &c.taker_buy_quote_volume};
}

}  // namespace

CandleSeries::Packed CandleSeries::pack(const Candle& c) {
  static_assert(sizeof(Packed) == 104);
  Packed p;
  p.start = c.start;
  p.trades = static_cast<std::int32_t>(c.trades);
  p.final = c.final;
  if (source_.empty() && packed_.empty()) source_ = c.source;
  p.whole = c.source != source_ || c.end != c.start + interval_ms(interval_) || c.trades != p.trades;
  const auto fields = fields_of(c);
  for (std::size_t i = 0; i < kFields && !p.whole; ++i) {
    const auto normal = fields[i]->normalized();
    const auto units = normal.units();
    if (units > INT64_MAX || units < INT64_MIN || normal.scale() < 0 || fields[i]->scale() > 60) {
      p.whole = true;
      break;
    }
    p.units[i] = static_cast<std::int64_t>(units);
    p.scale[i] = static_cast<std::uint8_t>(fields[i]->scale());
    p.zeros[i] = static_cast<std::uint8_t>(fields[i]->scale() - normal.scale());
  }
  return p;
}

std::size_t CandleSeries::lower_bound(std::int64_t start) const {
  return static_cast<std::size_t>(std::lower_bound(packed_.begin(), packed_.end(), start,
                                                   [](const Packed& held, std::int64_t s) { return held.start < s; }) -
                                  packed_.begin());
}

std::size_t CandleSeries::upper_bound(std::int64_t start) const {
  return static_cast<std::size_t>(std::upper_bound(packed_.begin(), packed_.end(), start,
                                                   [](std::int64_t s, const Packed& held) { return s < held.start; }) -
                                  packed_.begin());
}

Candle CandleSeries::at(std::size_t i) const {
  const auto& p = packed_[i];
  if (p.whole) return whole_.at(p.start);
  Candle c;
  c.source = source_;
  c.symbol = symbol_;
  c.interval = interval_;
  c.start = p.start;
  c.end = p.start + interval_ms(interval_);
  c.trades = p.trades;
  c.final = p.final;
  const auto fields = fields_of(c);
  for (std::size_t f = 0; f < kFields; ++f) {
    Decimal::Mantissa units = p.units[f];
    for (int z = 0; z < p.zeros[f]; ++z) units *= 10;
    *fields[f] = Decimal::from_units(units, p.scale[f]);
  }
  return c;
}

void CandleSeries::set(std::size_t i, const Candle& c) {
  if (packed_[i].whole) whole_.erase(packed_[i].start);
  packed_[i] = pack(c);
  if (packed_[i].whole) whole_[c.start] = c;
}

void CandleSeries::insert(std::size_t i, const Candle& c) {
  const auto p = pack(c);
  if (p.whole) whole_[c.start] = c;
  packed_.insert(packed_.begin() + static_cast<std::ptrdiff_t>(i), p);
}

void CandleSeries::pop_front() {
  if (packed_.front().whole) whole_.erase(packed_.front().start);
  packed_.pop_front();
  trimmed_ = true;
}

std::optional<std::int64_t> MarketStore::origin(const std::string& symbol, const std::string& interval) const {
  std::lock_guard lock(mu_);
  if (!from_origin_) return std::nullopt;
  const auto s = candles_.find(symbol);
  if (s == candles_.end()) return std::nullopt;
  const auto i = s->second.find(interval);
  if (i == s->second.end() || i->second.empty() || i->second.trimmed()) return std::nullopt;
  return i->second.start_at(0);
}

void MarketStore::set_from_origin(bool v) {
  std::lock_guard lock(mu_);
  from_origin_ = v;
}

Applied MarketStore::apply(const Candle& c) {
  std::lock_guard lock(mu_);
  auto& by_interval = candles_[c.symbol];
  auto it = by_interval.find(c.interval);
  if (it == by_interval.end()) {
    if (series_ >= limits_.max_series) {
      if (by_interval.empty()) candles_.erase(c.symbol);
      return Applied::refused;
    }
    it = by_interval.emplace(c.interval, CandleSeries(c.symbol, c.interval)).first;
    ++series_;
  }
  auto& series = it->second;
  if (c.final) last_closed_end_ = std::max(last_closed_end_, c.end);
  // Trades are counted once per symbol: in its shortest interval.
  const bool counts = std::all_of(by_interval.begin(), by_interval.end(), [&](const auto& other) {
    return interval_ms(other.first) >= interval_ms(c.interval);
  });
  auto pos = series.lower_bound(c.start);
  if (pos < series.size() && series.start_at(pos) == c.start) {
    const auto held = series.at(pos);
    if (held == c && held.final == c.final) return Applied::unchanged;
    if (held.final && !c.final) return Applied::stale;  // a live update replayed after its final
    if (counts && c.trades > held.trades) trades_seen_ += c.trades - held.trades;
    series.set(pos, c);
    return Applied::updated;
  }
  if (series.size() >= limits_.candles_per_series) {
    if (pos == 0) return Applied::stale;  // older than everything held
    series.pop_front();
    --candle_count_;
    --pos;
  }
  series.insert(pos, c);
  ++candle_count_;
  if (counts) trades_seen_ += c.trades;
  return Applied::added;
}

Applied MarketStore::apply(const Ticker& t) {
  std::lock_guard lock(mu_);
  auto& by_currency = tickers_[t.coin];
  auto it = by_currency.find(t.vs_currency);
  Applied applied = Applied::updated;
  if (it == by_currency.end()) {
    if (ticker_count_ >= limits_.max_tickers) {
      if (by_currency.empty()) tickers_.erase(t.coin);
      return Applied::refused;
    }
    by_currency.emplace(t.vs_currency, t);
    ++ticker_count_;
    applied = Applied::added;
  } else if (it->second == t) {
    return Applied::unchanged;
  } else if (t.last_updated < it->second.last_updated) {
    applied = Applied::stale;  // not the latest, but a point of its history
  } else {
    it->second = t;
  }
  const auto key = std::make_pair(t.coin, t.vs_currency);
  auto h = histories_.find(key);
  if (h == histories_.end()) {
    if (histories_.size() >= limits_.max_ticker_histories) {
      ++histories_refused_;
      return applied;
    }
    h = histories_.emplace(key, TickerHistory{}).first;
  }
  h->second.add(t);
  return applied;
}

std::vector<std::string> MarketStore::vs_currencies() const {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  for (const auto& [coin, by_currency] : tickers_)
    for (const auto& [vs, t] : by_currency) out.insert(vs);
  return {out.begin(), out.end()};
}

std::vector<TickerBucket> MarketStore::ticker_history(const std::string& coin, const std::string& vs_currency,
                                                      Granularity g, std::int64_t from, std::int64_t to) const {
  std::lock_guard lock(mu_);
  const auto h = histories_.find(std::make_pair(coin, vs_currency));
  return h == histories_.end() ? std::vector<TickerBucket>{} : h->second.buckets(g, from, to);
}

std::uint64_t MarketStore::histories_refused() const {
  std::lock_guard lock(mu_);
  return histories_refused_;
}

Applied MarketStore::apply(const Indicator& i) {
  std::lock_guard lock(mu_);
  auto& by_window = indicators_[i.symbol];
  auto it = by_window.find(i.window);
  if (it == by_window.end()) {
    if (by_window.size() >= 64 || indicators_.size() > limits_.max_series) {
      if (by_window.empty()) indicators_.erase(i.symbol);
      return Applied::refused;
    }
    by_window.emplace(i.window, i);
    return Applied::added;
  }
  if (it->second == i) return Applied::unchanged;
  if (i.end < it->second.end) return Applied::stale;
  it->second = i;
  return Applied::updated;
}

std::vector<Candle> MarketStore::candles(const CandleQuery& q) const {
  std::lock_guard lock(mu_);
  std::vector<Candle> out;
  const auto s = candles_.find(q.symbol);
  if (s == candles_.end()) return out;
  const auto i = s->second.find(q.interval);
  if (i == s->second.end() || q.limit == 0) return out;
  const auto& series = i->second;
  const auto from = series.lower_bound(q.start.value_or(INT64_MIN));
  const auto to = series.upper_bound(q.end.value_or(INT64_MAX));
  if (from >= to) return out;
  const auto n = std::min(to - from, q.limit);
  const auto first = q.start ? from : to - n;
  out.reserve(n);
  for (auto k = first; k < first + n; ++k) out.push_back(series.at(k));
  return out;
}

std::optional<std::int64_t> MarketStore::first_start(const std::string& symbol, const std::string& interval) const {
  std::lock_guard lock(mu_);
  const auto s = candles_.find(symbol);
  if (s == candles_.end()) return std::nullopt;
  const auto i = s->second.find(interval);
  if (i == s->second.end() || i->second.empty()) return std::nullopt;
  return i->second.start_at(0);
}

std::optional<Candle> MarketStore::last_candle(const std::string& symbol, const std::string& interval) const {
  std::lock_guard lock(mu_);
  const auto s = candles_.find(symbol);
  if (s == candles_.end()) return std::nullopt;
  const auto i = s->second.find(interval);
  if (i == s->second.end() || i->second.empty()) return std::nullopt;
  return i->second.at(i->second.size() - 1);
}

bool MarketStore::has_symbol(const std::string& symbol) const {
  std::lock_guard lock(mu_);
  return candles_.contains(symbol);
}

std::vector<std::string> MarketStore::symbols() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(candles_.size());
  for (const auto& [symbol, _] : candles_) out.push_back(symbol);
  return out;
}

std::vector<std::string> MarketStore::intervals(const std::string& symbol) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  const auto s = candles_.find(symbol);
  if (s == candles_.end()) return out;
  for (const auto& [interval, _] : s->second) out.push_back(interval);
  std::stable_sort(out.begin(), out.end(),
                   [](const std::string& a, const std::string& b) { return interval_ms(a) < interval_ms(b); });
  return out;
}

std::optional<Candle> MarketStore::latest(const std::string& symbol) const {
  // Every trade updates each interval's last candle, so they share the close; the shortest
  // interval's is the one updated at the latest start.
  std::lock_guard lock(mu_);
  const auto s = candles_.find(symbol);
  if (s == candles_.end()) return std::nullopt;
  const CandleSeries* best = nullptr;
  std::int64_t best_ms = 0;
  for (const auto& [interval, series] : s->second)
    if (!series.empty() && (best == nullptr || interval_ms(interval) < best_ms)) {
      best = &series;
      best_ms = interval_ms(interval);
    }
  if (best == nullptr) return std::nullopt;
  return best->at(best->size() - 1);
}

std::vector<Indicator> MarketStore::indicators(const std::string& symbol) const {
  std::lock_guard lock(mu_);
  std::vector<Indicator> out;
  for (const auto& [s, by_window] : indicators_) {
    if (!symbol.empty() && s != symbol) continue;
    for (const auto& [_, i] : by_window) out.push_back(i);
  }
  return out;
}

std::optional<Ticker> MarketStore::ticker(const std::string& coin, const std::string& vs_currency) const {
  std::lock_guard lock(mu_);
  const auto c = tickers_.find(coin);
  if (c == tickers_.end()) return std::nullopt;
  const auto v = c->second.find(vs_currency);
  if (v == c->second.end()) return std::nullopt;
  return v->second;
}

std::vector<Ticker> MarketStore::tickers(const std::string& vs_currency) const {
  std::lock_guard lock(mu_);
  std::vector<Ticker> out;
  for (const auto& [_, by_currency] : tickers_)
    for (const auto& [vs, t] : by_currency)
      if (vs_currency.empty() || vs == vs_currency) out.push_back(t);
  return out;
}

std::vector<Ticker> MarketStore::tickers_after(const std::string& coin, const std::string& vs_currency,
                                               std::size_t n) const {
  std::lock_guard lock(mu_);
  std::vector<Ticker> out;
  for (auto c = tickers_.lower_bound(coin); c != tickers_.end() && out.size() < n; ++c) {
    auto v = c->first == coin ? c->second.upper_bound(vs_currency) : c->second.begin();
    for (; v != c->second.end() && out.size() < n; ++v) out.push_back(v->second);
  }
  return out;
}

std::size_t MarketStore::series_count() const {
  std::lock_guard lock(mu_);
  return series_;
}

std::size_t MarketStore::candle_count() const {
  std::lock_guard lock(mu_);
  return candle_count_;
}

std::int64_t MarketStore::trades_seen() const {
  std::lock_guard lock(mu_);
  return trades_seen_;
}

PipelineStats MarketStore::pipeline() const {
  std::lock_guard lock(mu_);
  auto p = pipeline_;
  p.last_closed_end = last_closed_end_;
  return p;
}

void MarketStore::set_pipeline(const PipelineStats& stats) {
  std::lock_guard lock(mu_);
  pipeline_ = stats;
}

}  // namespace cryptoflow::gateway
