#include "candle_engine.hpp"

#include <algorithm>
#include <cstring>
#include <tuple>

namespace cryptoflow::processor {
namespace {

__extension__ typedef unsigned __int128 U128;

constexpr std::int64_t kDayMs = 86'400'000;

// Window start for t (floor, also for times before the epoch).
std::int64_t window_start(std::int64_t t, std::int64_t size) {
  const auto r = t % size;
  return r < 0 ? t - r - size : t - r;
}

Decimal sum(const Decimal& a, const Decimal& b) {
  auto s = a.checked_add(b);
  if (!s) throw std::overflow_error("decimal overflow in a window sum");
  return *s;
}

// A run of more empty windows than this (a week of minutes) in one close is skipped, not
// emitted: a hostile or mistaken jump of the watermark must not flood the candles topic.
constexpr std::int64_t kMaxEmptyRun = 10'080;

// --- snapshot encoding: little-endian fixed-width integers, length-prefixed strings ---------

constexpr std::uint32_t kSnapshotMagic = 0x31535043;  // "CPS1"

class Writer {
 public:
  void i64(std::int64_t v) { raw(&v, sizeof v); }
  void u32(std::uint32_t v) { raw(&v, sizeof v); }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  void dec(const Decimal& d) {
    const auto u = static_cast<U128>(d.units());
    i64(static_cast<std::int64_t>(static_cast<std::uint64_t>(u >> 64)));
    i64(static_cast<std::int64_t>(static_cast<std::uint64_t>(u)));
    u32(static_cast<std::uint32_t>(d.scale()));
  }
  std::string take() { return std::move(out_); }

 private:
  void raw(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  std::int64_t i64() {
    std::int64_t v;
    raw(&v, sizeof v);
    return v;
  }
  std::uint32_t u32() {
    std::uint32_t v;
    raw(&v, sizeof v);
    return v;
  }
  std::string str() {
    const auto n = u32();
    need(n);
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  Decimal dec() {
    const auto hi = static_cast<std::uint64_t>(i64());
    const auto lo = static_cast<std::uint64_t>(i64());
    const auto scale = u32();
    if (scale > static_cast<std::uint32_t>(Decimal::kMaxScale))
      throw SnapshotError("snapshot: decimal scale out of range");
    const auto u = (static_cast<U128>(hi) << 64) | lo;
    return Decimal::from_units(static_cast<Decimal::Mantissa>(u), static_cast<int>(scale));
  }
  // A count of items that each take at least min_bytes: bounded by what is left.
  std::uint32_t count(std::size_t min_bytes) {
    const auto n = u32();
    if (static_cast<std::size_t>(n) * min_bytes > in_.size() - pos_)
      throw SnapshotError("snapshot: count exceeds data");
    return n;
  }
  [[nodiscard]] bool done() const { return pos_ == in_.size(); }

 private:
  void need(std::size_t n) const {
    if (in_.size() - pos_ < n) throw SnapshotError("snapshot: truncated");
  }
  void raw(void* p, std::size_t n) {
    need(n);
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string interval_error(std::int64_t ms) {
  if (ms <= 0 || ms % 1000 != 0) return "not a whole number of seconds";
  if (kDayMs % ms != 0 && ms % kDayMs != 0) return "does not divide a day evenly";
  return {};
}

CandleEngine::CandleEngine(EngineOptions options) : options_(std::move(options)) {
  if (options_.intervals.empty()) throw std::invalid_argument("candle engine: no intervals");
  for (std::size_t i = 0; i < options_.intervals.size(); ++i) {
    const auto& iv = options_.intervals[i];
    if (const auto e = interval_error(iv.ms); !e.empty())
      throw std::invalid_argument("candle engine: interval " + iv.name + " " + e);
    for (std::size_t j = 0; j < i; ++j)
      if (options_.intervals[j].ms == iv.ms)
        throw std::invalid_argument("candle engine: interval " + iv.name + " twice");
  }
  if (options_.sma && (options_.sma->window_ms <= 0 || options_.sma->slide_ms <= 0 ||
                       options_.sma->window_ms % options_.sma->slide_ms != 0))
    throw std::invalid_argument("candle engine: the moving average's slide must divide its window");
  if (options_.allowed_lateness_ms < 0 || options_.idle_timeout_ms < 0)
    throw std::invalid_argument("candle engine: negative lateness or idle timeout");
}

CandleEngine::Series& CandleEngine::series(const Trade& t, std::size_t interval, std::int32_t partition) {
  key_.assign(t.symbol);
  key_ += '\0';
  key_ += static_cast<char>('0' + interval);
  auto it = series_.find(key_);
  if (it == series_.end())
    it = series_.emplace(key_, Series{t.source, t.symbol, interval, partition, {}, kNone, std::nullopt}).first;
  it->second.partition = partition;
  return it->second;
}

AddResult CandleEngine::add(std::int32_t partition, const Trade& t, std::int64_t now_ms) {
  auto& p = partitions_[partition];
  const bool was_idle = now_ms - p.last_input_ms >= options_.idle_timeout_ms;
  p.last_input_ms = now_ms;
  if (t.trade_time > p.max_trade_time || was_idle) {
    p.max_trade_time = std::max(p.max_trade_time, t.trade_time);
    update_watermark(now_ms);  // per record: what is late depends on input order, not on timing
  }
  changed_.insert(partition);

  AddResult result;
  const auto quote = t.price.checked_mul(t.quantity);
  if (!quote) throw std::overflow_error("decimal overflow in price * quantity");
  Slot& slot = slots_[t.symbol];
  if (slot.series.size() != options_.intervals.size()) slot.series.assign(options_.intervals.size(), nullptr);
  for (std::size_t i = 0; i < options_.intervals.size(); ++i) {
    const auto size = options_.intervals[i].ms;
    const auto start = window_start(t.trade_time, size);
    if (!slot.series[i]) slot.series[i] = &series(t, i, partition);
    Series& s = *slot.series[i];
    s.partition = partition;
    if (start + size <= watermark_ || start < s.closed_until) {  // that window is final already
      result.late = true;
      continue;
    }
    auto [w, fresh] = s.windows.try_emplace(start);
    Acc& a = w->second;
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
    a.dirty = true;
  }

  if (options_.sma) {
    const auto slide = options_.sma->slide_ms;
    const auto pane = window_start(t.trade_time, slide);
    if (!slot.average) {
      auto it = averages_.find(t.symbol);
      if (it == averages_.end())
        it = averages_.emplace(t.symbol, Average{t.source, t.symbol, partition, {}, kNone}).first;
      slot.average = &it->second;
    }
    Average& avg = *slot.average;
    avg.partition = partition;
    if (pane + slide <= watermark_ || pane + slide <= avg.emitted_until) {
      result.late = true;
    } else {
      auto& pn = avg.panes[pane];
      pn.sum = pn.count == 0 ? t.price : sum(pn.sum, t.price);
      ++pn.count;
    }
  }
  return result;
}

void CandleEngine::update_watermark(std::int64_t now_ms) {
  std::int64_t active_min = std::numeric_limits<std::int64_t>::max();
  std::int64_t any_max = kNone;
  bool any_active = false;
  for (const auto& [id, p] : partitions_) {
    if (p.max_trade_time == kNone) {
      // Nothing read yet: no watermark of its own. With records waiting it holds the others
      // back (its first trades may be older than theirs); without, it does not count.
      if (p.waiting_before_input && now_ms - p.last_input_ms < options_.idle_timeout_ms) {
        any_active = true;
        active_min = kNone;
      }
      continue;
    }
    const auto wm = p.max_trade_time - options_.allowed_lateness_ms;
    any_max = std::max(any_max, wm);
    if (now_ms - p.last_input_ms < options_.idle_timeout_ms) {
      any_active = true;
      active_min = std::min(active_min, wm);
    }
  }
  // It may go back: when a partition arrives (restored after a rebalance) or wakes from idle
  // behind the others, its windows must not close early. What was emitted stays emitted
  // (closed_until), so nothing is emitted twice.
  watermark_ = any_active ? active_min : any_max;
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

Candle CandleEngine::empty_candle(const Series& s, std::int64_t start) const {
  Acc a;
  a.open = a.high = a.low = a.close = *s.last_close;
  const auto zero = Decimal::from_units(0, 0);
  a.volume = a.quote_volume = a.taker_buy_volume = zero;
  return make_candle(s, start, a, true);
}

void CandleEngine::close_series(Series& s, std::vector<FromPartition<Candle>>& out) {
  const auto ms = options_.intervals[s.interval].ms;
  auto& w = s.windows;
  std::int64_t start = s.closed_until;
  if (start == kNone || !options_.empty_candles || !s.last_close) {
    if (w.empty()) return;
    start = w.begin()->first;
  }
  if (start + ms > watermark_) return;
  if (w.empty() || w.begin()->first > start) {  // a run of empty windows first
    const auto first_trade_window = w.empty() ? window_start(watermark_, ms) : w.begin()->first;
    const auto run = (std::min(first_trade_window, window_start(watermark_, ms)) - start) / ms;
    if (run > kMaxEmptyRun) start = std::min(first_trade_window, window_start(watermark_, ms)) - kMaxEmptyRun * ms;
  }
  changed_.insert(s.partition);
  for (; start + ms <= watermark_; start += ms) {
    if (!w.empty() && w.begin()->first == start) {
      out.push_back({s.partition, make_candle(s, start, w.begin()->second, true)});
      s.last_close = w.begin()->second.close;
      w.erase(w.begin());
    } else if (options_.empty_candles && s.last_close) {
      out.push_back({s.partition, empty_candle(s, start)});
    } else if (!w.empty()) {
      start = w.begin()->first - ms;  // no close yet to repeat: skip to the next traded window
    } else {
      break;
    }
    s.closed_until = start + ms;
  }
}

void CandleEngine::close_average(Average& a, std::vector<FromPartition<Indicator>>& out) {
  const auto W = options_.sma->window_ms;
  const auto S = options_.sma->slide_ms;
  auto& panes = a.panes;
  std::int64_t end = a.emitted_until != kNone ? a.emitted_until + S : kNone;
  while (true) {
    if (panes.empty()) {
      if (a.emitted_until != kNone && window_start(watermark_, S) > a.emitted_until) {
        a.emitted_until = window_start(watermark_, S);
        changed_.insert(a.partition);
      }
      return;
    }
    end = std::max(end, panes.begin()->first + S);  // skip windows that hold no pane
    if (end > watermark_) return;
    Decimal total;
    std::int64_t count = 0;
    for (auto it = panes.lower_bound(end - W); it != panes.end() && it->first < end; ++it) {
      total = count == 0 ? it->second.sum : sum(total, it->second.sum);
      count += it->second.count;
    }
    if (count > 0) {
      Indicator ind;
      ind.symbol = a.symbol;
      ind.kind = "sma";
      ind.window = options_.sma->name;
      ind.end = end;
      ind.value = total.divide(Decimal::from_int(count), options_.vwap_scale).value_or(total);
      ind.trades = count;
      out.push_back({a.partition, std::move(ind)});
    }
    a.emitted_until = end;
    changed_.insert(a.partition);
    panes.erase(panes.begin(), panes.lower_bound(end + S - W));  // not in any later window
    end += S;
  }
}

void CandleEngine::close_windows(std::int64_t now_ms, std::vector<FromPartition<Candle>>& candles,
                                 std::vector<FromPartition<Indicator>>& indicators) {
  update_watermark(now_ms);
  if (watermark_ == kNone) return;  // no input yet: nothing can close
  const auto first = candles.size();
  for (auto& [key, s] : series_) close_series(s, candles);
  std::sort(candles.begin() + static_cast<std::ptrdiff_t>(first), candles.end(), [](const auto& a, const auto& b) {
    return std::tie(a.value.end, a.value.symbol, a.value.interval) <
           std::tie(b.value.end, b.value.symbol, b.value.interval);
  });
  if (!options_.sma) return;
  const auto first_ind = indicators.size();
  for (auto& [key, a] : averages_) close_average(a, indicators);
  std::sort(indicators.begin() + static_cast<std::ptrdiff_t>(first_ind), indicators.end(),
            [](const auto& a, const auto& b) {
              return std::tie(a.value.end, a.value.symbol) < std::tie(b.value.end, b.value.symbol);
            });
}

void CandleEngine::take_updates(std::vector<FromPartition<Candle>>& out) {
  for (auto& [key, s] : series_)
    for (auto& [start, a] : s.windows)
      if (a.dirty) {
        out.push_back({s.partition, make_candle(s, start, a, false)});
        a.dirty = false;
      }
}

void CandleEngine::mark_waiting(std::int32_t partition, std::int64_t now_ms) {
  auto& p = partitions_[partition];
  p.last_input_ms = now_ms;
  if (p.max_trade_time == kNone) p.waiting_before_input = true;
}

std::optional<std::int64_t> CandleEngine::partition_watermark(std::int32_t partition) const {
  auto it = partitions_.find(partition);
  if (it == partitions_.end() || it->second.max_trade_time == kNone) return std::nullopt;
  return it->second.max_trade_time - options_.allowed_lateness_ms;
}

std::size_t CandleEngine::open_windows() const {
  std::size_t n = 0;
  for (const auto& [key, s] : series_) n += s.windows.size();
  return n;
}

std::vector<std::int32_t> CandleEngine::take_changed_partitions() {
  std::vector<std::int32_t> out(changed_.begin(), changed_.end());
  changed_.clear();
  return out;
}

std::string CandleEngine::snapshot(std::int32_t partition) const {
  Writer w;
  w.u32(kSnapshotMagic);
  const auto p = partitions_.find(partition);
  w.i64(p == partitions_.end() ? kNone : p->second.max_trade_time);
  std::vector<const Series*> series;
  for (const auto& [key, s] : series_)
    if (s.partition == partition) series.push_back(&s);
  std::sort(series.begin(), series.end(), [](const Series* a, const Series* b) {
    return std::tie(a->symbol, a->interval) < std::tie(b->symbol, b->interval);
  });
  w.u32(static_cast<std::uint32_t>(series.size()));
  for (const auto* s : series) {
    w.str(s->source);
    w.str(s->symbol);
    w.i64(options_.intervals[s->interval].ms);
    w.i64(s->closed_until);
    w.u32(s->last_close ? 1 : 0);
    w.dec(s->last_close.value_or(Decimal()));
    w.u32(static_cast<std::uint32_t>(s->windows.size()));
    for (const auto& [start, a] : s->windows) {
      w.i64(start);
      for (const auto* d : {&a.open, &a.high, &a.low, &a.close, &a.volume, &a.quote_volume, &a.taker_buy_volume})
        w.dec(*d);
      for (auto v : {a.open_time, a.open_id, a.close_time, a.close_id, a.trades}) w.i64(v);
    }
  }
  std::vector<const Average*> averages;
  if (options_.sma)
    for (const auto& [key, a] : averages_)
      if (a.partition == partition) averages.push_back(&a);
  std::sort(averages.begin(), averages.end(), [](const Average* a, const Average* b) { return a->symbol < b->symbol; });
  w.i64(options_.sma ? options_.sma->window_ms : 0);
  w.i64(options_.sma ? options_.sma->slide_ms : 0);
  w.u32(static_cast<std::uint32_t>(averages.size()));
  for (const auto* a : averages) {
    w.str(a->source);
    w.str(a->symbol);
    w.i64(a->emitted_until);
    w.u32(static_cast<std::uint32_t>(a->panes.size()));
    for (const auto& [start, pane] : a->panes) {
      w.i64(start);
      w.dec(pane.sum);
      w.i64(pane.count);
    }
  }
  return w.take();
}

void CandleEngine::restore(std::int32_t partition, std::string_view bytes, std::int64_t now_ms) {
  Reader r(bytes);
  if (r.u32() != kSnapshotMagic) throw SnapshotError("snapshot: unknown format");
  PartitionState ps;
  ps.max_trade_time = r.i64();
  ps.last_input_ms = now_ms;
  std::vector<std::pair<std::string, Series>> series;
  const auto n_series = r.count(40);
  for (std::uint32_t i = 0; i < n_series; ++i) {
    Series s;
    s.source = r.str();
    s.symbol = r.str();
    const auto ms = r.i64();
    s.partition = partition;
    s.closed_until = r.i64();
    const bool has_close = r.u32() != 0;
    const auto close = r.dec();
    if (has_close) s.last_close = close;
    const auto n_windows = r.count(8);
    for (std::uint32_t k = 0; k < n_windows; ++k) {
      const auto start = r.i64();
      Acc& a = s.windows[start];
      for (auto* d : {&a.open, &a.high, &a.low, &a.close, &a.volume, &a.quote_volume, &a.taker_buy_volume})
        *d = r.dec();
      for (auto* v : {&a.open_time, &a.open_id, &a.close_time, &a.close_id, &a.trades}) *v = r.i64();
    }
    const auto iv = std::find_if(options_.intervals.begin(), options_.intervals.end(),
                                 [&](const Interval& x) { return x.ms == ms; });
    if (iv == options_.intervals.end()) continue;  // CANDLE_INTERVALS no longer has it
    s.interval = static_cast<std::size_t>(iv - options_.intervals.begin());
    std::string key = s.symbol;
    key += '\0';
    key += static_cast<char>('0' + s.interval);
    series.emplace_back(std::move(key), std::move(s));
  }
  const auto window_ms = r.i64();
  const auto slide_ms = r.i64();
  const bool same_sma = options_.sma && options_.sma->window_ms == window_ms && options_.sma->slide_ms == slide_ms;
  std::vector<Average> averages;
  const auto n_avg = r.count(20);
  for (std::uint32_t i = 0; i < n_avg; ++i) {
    Average a;
    a.source = r.str();
    a.symbol = r.str();
    a.partition = partition;
    a.emitted_until = r.i64();
    const auto n_panes = r.count(8);
    for (std::uint32_t k = 0; k < n_panes; ++k) {
      const auto start = r.i64();
      auto& pane = a.panes[start];
      pane.sum = r.dec();
      pane.count = r.i64();
    }
    if (same_sma) averages.push_back(std::move(a));
  }
  if (!r.done()) throw SnapshotError("snapshot: trailing bytes");

  drop_partition(partition);
  partitions_[partition] = ps;
  slots_.clear();
  for (auto& [key, s] : series) series_.insert_or_assign(key, std::move(s));
  for (auto& a : averages) averages_.insert_or_assign(a.symbol, std::move(a));
}

void CandleEngine::drop_partition(std::int32_t partition) {
  slots_.clear();
  std::erase_if(series_, [&](const auto& kv) { return kv.second.partition == partition; });
  std::erase_if(averages_, [&](const auto& kv) { return kv.second.partition == partition; });
  partitions_.erase(partition);
  changed_.erase(partition);
}

}  // namespace cryptoflow::processor
