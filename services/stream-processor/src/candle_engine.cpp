#include "candle_engine.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include "cryptoflow/config.hpp"

namespace cryptoflow::processor {
namespace {

// Window start for t (floor, also for times before the epoch).
std::int64_t window_start(std::int64_t t, std::int64_t size) {
  const auto r = t % size;
  return r < 0 ? t - r - size : t - r;
}

Decimal sum(const Decimal& a, const Decimal& b) {
  auto s = a.checked_add(b);
  if (!s) throw std::overflow_error("decimal overflow in candle sum");
  return *s;
}

}  // namespace

std::vector<Interval> parse_intervals(const std::vector<std::string>& names) {
  std::vector<Interval> out;
  for (const auto& n : names) {
    const auto ms = parse_duration_ms(n);
    if (ms <= 0 || n.find("ms") != std::string::npos || ms % 1000 != 0)
      throw ConfigError("CANDLE_INTERVALS: '" + n + "' is not an interval (e.g. 1m, 5m, 15m, 1h, 1d)");
    if (86'400'000 % ms != 0 && ms % 86'400'000 != 0)
      throw ConfigError("CANDLE_INTERVALS: '" + n + "' does not divide a day evenly");
    if (std::any_of(out.begin(), out.end(), [&](const Interval& i) { return i.ms == ms; }))
      throw ConfigError("CANDLE_INTERVALS: '" + n + "' is listed twice");
    out.push_back({n, ms});
  }
  if (out.empty()) throw ConfigError("CANDLE_INTERVALS is empty");
  return out;
}

CandleEngine::CandleEngine(EngineOptions options) : options_(std::move(options)) {}

AddResult CandleEngine::add(std::int32_t partition, std::int64_t offset, const Trade& t, std::int64_t now_ms) {
  auto& p = partitions_[partition];
  const bool was_idle = now_ms - p.last_input_ms >= options_.idle_timeout_ms;
  p.last_input_ms = now_ms;
  if (t.trade_time > p.max_trade_time || was_idle) {
    p.max_trade_time = std::max(p.max_trade_time, t.trade_time);
    update_watermark(now_ms);  // per record: what is late depends on input order, not on timing
  }

  AddResult result;
  std::string key = t.symbol;
  key += '\0';
  key += ' ';
  for (std::size_t i = 0; i < options_.intervals.size(); ++i) {
    const auto size = options_.intervals[i].ms;
    const auto start = window_start(t.trade_time, size);
    if (start + size <= watermark_) {  // that window is final already
      result.late = true;
      continue;
    }
    key.back() = static_cast<char>('0' + i);
    auto it = series_.find(key);
    if (it == series_.end()) {
      it = series_.emplace(key, Series{t.source, t.symbol, i, partition, {}}).first;
    }
    it->second.partition = partition;
    auto [w, fresh] = it->second.windows.try_emplace(start);
    Acc& a = w->second;
    const auto quote = t.price.checked_mul(t.quantity);
    if (!quote) throw std::overflow_error("decimal overflow in price * quantity");
    if (fresh) {
      a.open = a.high = a.low = a.close = t.price;
      a.open_time = a.close_time = t.trade_time;
      a.open_id = a.close_id = t.trade_id;
      a.volume = t.quantity;
      a.quote_volume = *quote;
      a.taker_buy_volume = t.buyer_is_maker ? Decimal::from_units(0, t.quantity.scale()) : t.quantity;
    } else {
      if (std::tie(t.trade_time, t.trade_id) < std::tie(a.open_time, a.open_id)) {
        a.open = t.price;
        a.open_time = t.trade_time;
        a.open_id = t.trade_id;
      }
      if (std::tie(t.trade_time, t.trade_id) >= std::tie(a.close_time, a.close_id)) {
        a.close = t.price;
        a.close_time = t.trade_time;
        a.close_id = t.trade_id;
      }
      if (t.price > a.high) a.high = t.price;
      if (t.price < a.low) a.low = t.price;
      a.volume = sum(a.volume, t.quantity);
      a.quote_volume = sum(a.quote_volume, *quote);
      if (!t.buyer_is_maker) a.taker_buy_volume = sum(a.taker_buy_volume, t.quantity);
    }
    a.trades += t.trade_count();
    a.first_offset = std::min(a.first_offset, offset);
    a.dirty = true;
  }
  return result;
}

void CandleEngine::update_watermark(std::int64_t now_ms) {
  std::int64_t active_min = std::numeric_limits<std::int64_t>::max();
  std::int64_t any_max = std::numeric_limits<std::int64_t>::min();
  bool any_active = false;
  for (const auto& [id, p] : partitions_) {
    if (p.max_trade_time == std::numeric_limits<std::int64_t>::min()) continue;
    const auto wm = p.max_trade_time - options_.allowed_lateness_ms;
    any_max = std::max(any_max, wm);
    if (now_ms - p.last_input_ms < options_.idle_timeout_ms) {
      any_active = true;
      active_min = std::min(active_min, wm);
    }
  }
  const auto wm = any_active ? active_min : any_max;
  watermark_ = std::max(watermark_, wm);  // never goes back
}

Candle CandleEngine::make_candle(const Series& s, std::int64_t start, const Acc& a, bool final) const {
  const auto& iv = options_.intervals[s.interval];
  Candle c;
  c.source = s.source;
  c.symbol = s.symbol;
  c.interval = iv.name;
  c.start = start;
  c.end = start + iv.ms;
  c.open = a.open;
  c.high = a.high;
  c.low = a.low;
  c.close = a.close;
  c.volume = a.volume;
  c.quote_volume = a.quote_volume;
  c.taker_buy_volume = a.taker_buy_volume;
  c.vwap = a.volume.is_zero() ? a.close : a.quote_volume.divide(a.volume, options_.vwap_scale).value_or(a.close);
  c.trades = a.trades;
  c.final = final;
  return c;
}

void CandleEngine::close_windows(std::int64_t now_ms, std::vector<Candle>& out) {
  update_watermark(now_ms);
  const auto first = out.size();
  for (auto& [key, s] : series_) {
    auto& w = s.windows;
    while (!w.empty() && w.begin()->first + options_.intervals[s.interval].ms <= watermark_) {
      out.push_back(make_candle(s, w.begin()->first, w.begin()->second, true));
      w.erase(w.begin());
    }
  }
  std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(), [](const Candle& a, const Candle& b) {
    return std::tie(a.end, a.symbol, a.interval) < std::tie(b.end, b.symbol, b.interval);
  });
}

void CandleEngine::take_updates(std::vector<Candle>& out) {
  for (auto& [key, s] : series_)
    for (auto& [start, a] : s.windows)
      if (a.dirty) {
        out.push_back(make_candle(s, start, a, false));
        a.dirty = false;
      }
}

std::optional<std::int64_t> CandleEngine::partition_watermark(std::int32_t partition) const {
  auto it = partitions_.find(partition);
  if (it == partitions_.end() || it->second.max_trade_time == std::numeric_limits<std::int64_t>::min())
    return std::nullopt;
  return it->second.max_trade_time - options_.allowed_lateness_ms;
}

std::optional<std::int64_t> CandleEngine::resume_offset(std::int32_t partition) const {
  std::optional<std::int64_t> out;
  for (const auto& [key, s] : series_) {
    if (s.partition != partition) continue;
    for (const auto& [start, a] : s.windows) out = std::min(out.value_or(a.first_offset), a.first_offset);
  }
  return out;
}

void CandleEngine::drop_partition(std::int32_t partition) {
  std::erase_if(series_, [&](const auto& kv) { return kv.second.partition == partition; });
  partitions_.erase(partition);
}

std::size_t CandleEngine::open_windows() const {
  std::size_t n = 0;
  for (const auto& [key, s] : series_) n += s.windows.size();
  return n;
}

}  // namespace cryptoflow::processor
