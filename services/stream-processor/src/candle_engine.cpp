#include "candle_engine.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>
#include <utility>

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

// --- snapshot encoding -----------------------------------------------------------------------
// A partition snapshot (CPS2) and the symbol formats before CSY4: little-endian fixed-width
// integers, length-prefixed strings, decimals as a 128-bit mantissa and a 32-bit scale (20 bytes).
// CSY4, the symbol format written now, is compact: every integer a varint (LEB128; signed ones
// zigzag), times as the difference from the time written before them and trade ids from the id
// before them (so a window's start, open and close time take 1-3 bytes), decimals as their scale
// and their mantissa as a zigzagged varint of up to 128 bits (a price of 12 significant digits
// takes 7 bytes, not 20).

constexpr std::uint32_t kSnapshotMagic = 0x32535043;  // "CPS2": a partition
constexpr std::uint32_t kSymbolMagicV1 = 0x31595343;  // "CSY1": a symbol, before its trade ids were kept
constexpr std::uint32_t kSymbolMagicV2 = 0x32595343;  // "CSY2": a symbol, before its taker-buy quote volume
constexpr std::uint32_t kSymbolMagicV3 = 0x33595343;  // "CSY3": a symbol, fixed-width
constexpr std::uint32_t kSymbolMagic = 0x34595343;    // "CSY4": a symbol, compact

std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}
// Differences taken modulo 2^64: reversible for any pair, never signed overflow.
std::int64_t minus(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}
std::int64_t plus(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

class Writer {
 public:
  // Fixed width (CPS2).
  void i64(std::int64_t v) { raw(&v, sizeof v); }
  void u32(std::uint32_t v) { raw(&v, sizeof v); }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  // Compact (CSY4).
  void var(std::uint64_t v) { leb128(v); }
  void integer(std::int64_t v) { var(zigzag(v)); }
  void text(const std::string& s) {
    var(s.size());
    out_.append(s);
  }
  // A time: 0 for none, else 1 + the zigzagged difference from the previous time written.
  void time(std::int64_t t) {
    if (t == CandleEngine::kNone) return var(0);
    var(zigzag(minus(t, last_time_)) + 1);
    last_time_ = t;
  }
  void id(std::int64_t v) {
    integer(minus(v, last_id_));
    last_id_ = v;
  }
  // Its scale, then its mantissa (up to 128 bits), zigzagged.
  void dec(const Decimal& d) {
    var(static_cast<std::uint64_t>(d.scale()));
    const auto m = d.units();
    leb128((static_cast<U128>(m) << 1) ^ static_cast<U128>(m >> 127));
  }
  std::string take() { return std::move(out_); }

 private:
  // 7 bits a byte, low first, the high bit set on every byte but the last (64 or 128 bits).
  template <class U>
  void leb128(U v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((static_cast<unsigned>(v) & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void raw(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
  std::int64_t last_time_ = 0, last_id_ = 0;
};

// Reads either encoding: fixed width until compact() is called. The typed calls (text, flag,
// count, time, id, integer, dec) read what the Writer's of the same name wrote, or the fixed-width
// field in its place.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  void compact() { compact_ = true; }
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
    return chars(n);
  }
  std::string text() { return compact_ ? chars(var()) : str(); }
  bool flag() { return (compact_ ? var() : u32()) != 0; }
  std::int64_t integer() { return compact_ ? unzigzag(var()) : i64(); }
  std::int64_t time() {
    if (!compact_) return i64();
    const auto v = var();
    if (v == 0) return CandleEngine::kNone;
    return last_time_ = plus(last_time_, unzigzag(v - 1));
  }
  std::int64_t id() { return compact_ ? last_id_ = plus(last_id_, unzigzag(var())) : i64(); }
  Decimal dec() {
    if (!compact_) {
      const auto hi = static_cast<std::uint64_t>(i64());
      const auto lo = static_cast<std::uint64_t>(i64());
      return decimal((static_cast<U128>(hi) << 64) | lo, u32());
    }
    const auto scale = var();
    const auto u = leb128<U128>("snapshot: decimal too long");
    return decimal((u >> 1) ^ (U128{0} - (u & 1)), scale);
  }
  // A count of items that each take at least min_bytes (fixed width) or one byte per field
  // (compact): bounded by what is left.
  std::uint32_t count(std::size_t min_bytes, std::size_t fields) {
    const std::uint64_t n = compact_ ? var() : u32();
    const auto left = in_.size() - pos_;
    if (n > left || n * (compact_ ? fields : min_bytes) > left) throw SnapshotError("snapshot: count exceeds data");
    return static_cast<std::uint32_t>(n);
  }
  [[nodiscard]] bool done() const { return pos_ == in_.size(); }

 private:
  static Decimal decimal(U128 units, std::uint64_t scale) {
    if (scale > static_cast<std::uint64_t>(Decimal::kMaxScale))
      throw SnapshotError("snapshot: decimal scale out of range");
    return Decimal::from_units(static_cast<Decimal::Mantissa>(units), static_cast<int>(scale));
  }
  std::uint64_t var() { return leb128<std::uint64_t>("snapshot: varint too long"); }
  // What Writer::leb128 wrote; more bytes than U holds are refused with `too_long`.
  template <class U>
  U leb128(const char* too_long) {
    U v = 0;
    for (int shift = 0; shift < static_cast<int>(sizeof(U)) * 8; shift += 7) {
      need(1);
      const auto b = static_cast<unsigned char>(in_[pos_++]);
      v |= static_cast<U>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    throw SnapshotError(too_long);
  }
  std::string chars(std::uint64_t n) {
    need(n);
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  void need(std::uint64_t n) const {
    if (in_.size() - pos_ < n) throw SnapshotError("snapshot: truncated");
  }
  void raw(void* p, std::size_t n) {
    need(n);
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  bool compact_ = false;
  std::int64_t last_time_ = 0, last_id_ = 0;
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
  next_due_.assign(options_.intervals.size(), kNone);
}

void CandleEngine::forget_lookups() {
  slots_.clear();
  updated_stale_ = true;
  order_stale_ = true;
  std::fill(next_due_.begin(), next_due_.end(), kNone);
  next_average_due_ = kNone;
}

void CandleEngine::update_order() {
  const auto series_less = [&](const Series* a, const Series* b) {
    return std::tie(a->symbol, options_.intervals[a->interval].name) <
           std::tie(b->symbol, options_.intervals[b->interval].name);
  };
  const auto average_less = [](const Average* a, const Average* b) { return a->symbol < b->symbol; };
  if (order_stale_) {  // something was removed: from the maps (the *_new_ pointers may dangle)
    series_order_.clear();
    for (auto& [key, s] : series_) series_order_.push_back(&s);
    std::sort(series_order_.begin(), series_order_.end(), series_less);
    average_order_.clear();
    for (auto& [key, a] : averages_) average_order_.push_back(&a);
    std::sort(average_order_.begin(), average_order_.end(), average_less);
    series_new_.clear();
    average_new_.clear();
    order_stale_ = false;
    return;
  }
  const auto merge_in = [](auto& order, auto& added, const auto& less) {
    if (added.empty()) return;
    std::sort(added.begin(), added.end(), less);
    const auto mid = static_cast<std::ptrdiff_t>(order.size());
    order.insert(order.end(), added.begin(), added.end());
    std::inplace_merge(order.begin(), order.begin() + mid, order.end(), less);
    added.clear();
  };
  merge_in(series_order_, series_new_, series_less);
  merge_in(average_order_, average_new_, average_less);
}

CandleEngine::Series& CandleEngine::series(const Trade& t, std::size_t interval, std::int32_t partition) {
  key_.assign(t.symbol);  // series_key() without an allocation per trade
  key_ += '\0';
  key_ += static_cast<char>('0' + interval);
  auto it = series_.find(key_);
  if (it == series_.end()) {
    it = series_.emplace(key_, Series{t.source, t.symbol, interval, partition, {}, kNone, std::nullopt}).first;
    series_new_.push_back(&it->second);
  }
  if (it->second.partition != partition) {  // the symbol moved: its changes count for the new partition
    it->second.partition = partition;
    it->second.state_changed = false;
  }
  return it->second;
}

AddResult CandleEngine::add(std::int32_t partition, const Trade& t, std::int64_t now_ms) {
  // Refused before anything changes: its id is not seen, the watermark does not move.
  const auto quote = t.price.checked_mul(t.quantity);
  if (!quote) throw std::overflow_error("decimal overflow in price * quantity");
  auto& p = partitions_[partition];
  const bool was_idle = now_ms - p.last_input_ms >= options_.idle_timeout_ms;
  p.last_input_ms = now_ms;
  Slot& slot = slots_[t.symbol];
  if (!slot.seen) slot.seen = &seen_[t.symbol];
  Seen& seen = *slot.seen;
  if (seen.partition != partition) {  // the symbol moved: its changes count for the new partition
    seen.partition = partition;
    seen.state_changed = false;
  }
  if (!seen.ids.insert(t.trade_id)) return {.duplicate = true};
  mark_changed(seen.state_changed, partition, t.symbol);
  if (t.trade_time > p.max_trade_time || was_idle) {
    p.max_trade_time = std::max(p.max_trade_time, t.trade_time);
    update_watermark(now_ms);  // per record: what is late depends on input order, not on timing
  }
  changed_.insert(partition);

  AddResult result;
  if (slot.series.size() != options_.intervals.size()) slot.series.assign(options_.intervals.size(), nullptr);
  for (std::size_t i = 0; i < options_.intervals.size(); ++i) {
    const auto size = options_.intervals[i].ms;
    const auto start = window_start(t.trade_time, size);
    if (!slot.series[i]) slot.series[i] = &series(t, i, partition);
    Series& s = *slot.series[i];
    if (s.partition != partition) {
      s.partition = partition;
      s.state_changed = false;
    }
    if (start + size <= watermark_ || start < s.closed_until) {  // that window is final already
      result.late = true;
      continue;
    }
    auto [w, fresh] = s.windows.try_emplace(start);
    next_due_[i] = std::min(next_due_[i], start + size);
    Acc& a = w->second;
    mark_changed(s.state_changed, partition, s.symbol);
    s.last_trade_time = std::max(s.last_trade_time, t.trade_time);
    if (fresh) {
      a.open = a.high = a.low = a.close = t.price;
      a.open_time = a.close_time = t.trade_time;
      a.open_id = a.close_id = t.trade_id;
      a.volume = t.quantity;
      a.quote_volume = *quote;
      a.taker_buy_volume = t.buyer_is_maker ? Decimal::from_units(0, t.quantity.scale()) : t.quantity;
      a.taker_buy_quote_volume = t.buyer_is_maker ? Decimal::from_units(0, quote->scale()) : *quote;
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
      if (!t.buyer_is_maker) {
        a.taker_buy_volume = sum(a.taker_buy_volume, t.quantity);
        a.taker_buy_quote_volume = sum(a.taker_buy_quote_volume, *quote);
      }
    }
    a.trades += t.trade_count();
    a.dirty = true;
    if (!s.updated) {
      s.updated = true;
      updated_.push_back(&s);
    }
  }

  if (options_.sma) {
    const auto slide = options_.sma->slide_ms;
    const auto pane = window_start(t.trade_time, slide);
    if (!slot.average) {
      auto it = averages_.find(t.symbol);
      if (it == averages_.end()) {
        it = averages_.emplace(t.symbol, Average{t.source, t.symbol, partition, {}, kNone}).first;
        average_new_.push_back(&it->second);
      }
      slot.average = &it->second;
    }
    Average& avg = *slot.average;
    if (avg.partition != partition) {
      avg.partition = partition;
      avg.state_changed = false;
    }
    if (pane + slide <= watermark_ || pane + slide <= avg.emitted_until) {
      result.late = true;
    } else {
      next_average_due_ = std::min(next_average_due_, pane + slide);
      auto& pn = avg.panes[pane];
      pn.sum = pn.count == 0 ? t.price : sum(pn.sum, t.price);
      ++pn.count;
      mark_changed(avg.state_changed, partition, avg.symbol);
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
  c.taker_buy_quote_volume = a.taker_buy_quote_volume;
  c.vwap = a.volume.is_zero() ? a.close : a.quote_volume.divide(a.volume, options_.vwap_scale).value_or(a.close);
  c.trades = a.trades;
  c.final = final;
  return c;
}

Candle CandleEngine::empty_candle(const Series& s, std::int64_t start) const {
  Acc a;
  a.open = a.high = a.low = a.close = *s.last_close;
  const auto zero = Decimal::from_units(0, 0);
  a.volume = a.quote_volume = a.taker_buy_volume = a.taker_buy_quote_volume = zero;
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
  changed_.insert(s.partition);
  for (; start + ms <= watermark_; start += ms) {
    if (!w.empty() && w.begin()->first == start) {
      out.push_back({s.partition, make_candle(s, start, w.begin()->second, true)});
      s.last_close = w.begin()->second.close;
      w.erase(w.begin());
      // Not a change to save: a restore derives what closing did from empty_through.
    } else if (options_.empty_candles && s.last_close) {
      // A run of empty windows (up to the next traded window or the watermark) longer than
      // kMaxEmptyRun keeps only its last kMaxEmptyRun: a watermark years ahead of a quiet
      // symbol's last trade must not flood the topic. Checked at every run, also one that
      // follows a traded window.
      const auto run_end =
          std::min(w.empty() ? window_start(watermark_, ms) : w.begin()->first, window_start(watermark_, ms));
      if ((run_end - start) / ms > kMaxEmptyRun) start = run_end - kMaxEmptyRun * ms;
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

// Stable sort of out[first..] by end: the (end, index) pairs are sorted and each output moved
// once (a stable sort of the outputs themselves moved each one log n times).
template <class T>
void sort_by_end(std::vector<FromPartition<T>>& out, std::size_t first) {
  const auto by_end = [](const auto& a, const auto& b) { return a.value.end < b.value.end; };
  const auto begin = out.begin() + static_cast<std::ptrdiff_t>(first);
  if (std::is_sorted(begin, out.end(), by_end)) return;
  std::vector<std::pair<std::int64_t, std::size_t>> order;
  order.reserve(out.size() - first);
  for (std::size_t i = first; i < out.size(); ++i) order.emplace_back(out[i].value.end, i);
  std::sort(order.begin(), order.end());
  std::vector<FromPartition<T>> sorted;
  sorted.reserve(order.size());
  for (const auto& [end, i] : order) sorted.push_back(std::move(out[i]));
  std::move(sorted.begin(), sorted.end(), begin);
}

void CandleEngine::close_windows(std::int64_t now_ms, std::vector<FromPartition<Candle>>& candles,
                                 std::vector<FromPartition<Indicator>>& indicators) {
  update_watermark(now_ms);
  if (watermark_ == kNone) return;  // no input yet: nothing can close
  for (auto& [id, p] : partitions_) p.empty_through = std::max(p.empty_through, watermark_);
  update_order();
  // Each series emits in increasing end and they are walked in (symbol, interval) order, so a
  // stable sort by end alone gives (end, symbol, interval); usually all end at once and it is
  // already sorted.
  const auto first = candles.size();
  const auto n = options_.intervals.size();
  bool any_due = false;
  for (std::size_t i = 0; i < n; ++i) any_due = any_due || next_due_[i] <= watermark_;
  if (any_due) {
    for (Series* s : series_order_)
      if (next_due_[s->interval] <= watermark_) close_series(*s, candles);
    for (std::size_t i = 0; i < n; ++i)  // every window that ended by the watermark is closed
      if (const auto ms = options_.intervals[i].ms; next_due_[i] <= watermark_)
        next_due_[i] = window_start(watermark_, ms) + ms;
  }
  sort_by_end(candles, first);
  if (!options_.sma || next_average_due_ > watermark_) return;
  const auto first_ind = indicators.size();
  for (Average* a : average_order_) close_average(*a, indicators);
  next_average_due_ = window_start(watermark_, options_.sma->slide_ms) + options_.sma->slide_ms;
  sort_by_end(indicators, first_ind);
}

void CandleEngine::take_updates(std::vector<FromPartition<Candle>>& out) {
  if (updated_stale_) {  // series were erased since: the list may point at them
    updated_.clear();
    for (auto& [key, s] : series_)
      if (s.updated) updated_.push_back(&s);
    updated_stale_ = false;
  }
  for (Series* s : updated_) {
    for (auto& [start, a] : s->windows)
      if (a.dirty) {
        out.push_back({s->partition, make_candle(*s, start, a, false)});
        a.dirty = false;
      }
    s->updated = false;
  }
  updated_.clear();
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

std::string CandleEngine::series_key(const std::string& symbol, std::size_t interval) {
  std::string key = symbol;
  key += '\0';
  key += static_cast<char>('0' + interval);
  return key;
}

std::vector<std::string> CandleEngine::take_changed_symbols(std::int32_t partition) {
  const auto it = changed_symbols_.find(partition);
  if (it == changed_symbols_.end()) return {};
  std::vector<std::string> out;
  for (const auto& symbol : it->second) {
    bool present = false;
    for (std::size_t i = 0; i < options_.intervals.size(); ++i)
      if (auto s = series_.find(series_key(symbol, i)); s != series_.end() && s->second.partition == partition) {
        s->second.state_changed = false;
        present = true;
      }
    if (auto a = averages_.find(symbol); a != averages_.end() && a->second.partition == partition) {
      a->second.state_changed = false;
      present = true;
    }
    if (present) out.push_back(symbol);  // not one evicted, dropped or moved to another partition since
  }
  changed_symbols_.erase(it);
  return out;
}

std::vector<std::string> CandleEngine::symbols(std::int32_t partition) const {
  std::set<std::string> out;
  for (const auto& [key, s] : series_)
    if (s.partition == partition) out.insert(s.symbol);
  for (const auto& [key, a] : averages_)
    if (a.partition == partition) out.insert(a.symbol);
  for (const auto& [symbol, seen] : seen_)
    if (seen.partition == partition) out.insert(symbol);
  return {out.begin(), out.end()};
}

CandleEngine::PartitionMeta CandleEngine::partition_meta(std::int32_t partition) const {
  const auto it = partitions_.find(partition);
  if (it == partitions_.end()) return {};
  return {it->second.max_trade_time, it->second.empty_through};
}

// A symbol (CSY4): source, symbol, the trade ids seen (floor flag, floor, ranges), then per interval it has a series
// for: the interval, closed_until, last close, last trade time and the open windows; then its moving average, if any:
// the window and slide it was made with, emitted_until and the panes.
std::string CandleEngine::snapshot_symbol(const std::string& symbol) const {
  Writer w;
  w.u32(kSymbolMagic);
  std::vector<const Series*> series;
  for (std::size_t i = 0; i < options_.intervals.size(); ++i)
    if (auto it = series_.find(series_key(symbol, i)); it != series_.end()) series.push_back(&it->second);
  const auto avg = averages_.find(symbol);
  const std::string& source = !series.empty()          ? series.front()->source
                              : avg != averages_.end() ? avg->second.source
                                                       : symbol;
  w.text(source);
  w.text(symbol);
  const auto seen = seen_.find(symbol);
  const IdSet ids = seen == seen_.end() ? IdSet() : seen->second.ids;
  w.var(ids.floor() ? 1 : 0);
  w.id(ids.floor().value_or(0));
  w.var(ids.ranges().size());
  for (const auto& [first, last] : ids.ranges()) {
    w.id(first);
    w.id(last);
  }
  w.var(series.size());
  for (const auto* s : series) {
    w.integer(options_.intervals[s->interval].ms);
    w.time(s->closed_until);
    w.var(s->last_close ? 1 : 0);
    w.dec(s->last_close.value_or(Decimal()));
    w.time(s->last_trade_time);
    w.var(s->windows.size());
    for (const auto& [start, a] : s->windows) {
      w.time(start);
      for (const auto* d : {&a.open, &a.high, &a.low, &a.close, &a.volume, &a.quote_volume, &a.taker_buy_volume,
                            &a.taker_buy_quote_volume})
        w.dec(*d);
      w.time(a.open_time);
      w.id(a.open_id);
      w.time(a.close_time);
      w.id(a.close_id);
      w.integer(a.trades);
    }
  }
  const bool has_avg = options_.sma && avg != averages_.end();
  w.var(has_avg ? 1 : 0);
  if (has_avg) {
    const auto& a = avg->second;
    w.integer(options_.sma->window_ms);
    w.integer(options_.sma->slide_ms);
    w.time(a.emitted_until);
    w.var(a.panes.size());
    for (const auto& [start, pane] : a.panes) {
      w.time(start);
      w.dec(pane.sum);
      w.integer(pane.count);
    }
  }
  return w.take();
}

void CandleEngine::restore_partition(std::int32_t partition, const PartitionMeta& meta, std::int64_t now_ms) {
  drop_partition(partition);
  auto& ps = partitions_[partition];
  ps.max_trade_time = meta.max_trade_time;
  ps.empty_through = meta.empty_through;
  ps.last_input_ms = now_ms;
}

void CandleEngine::restore_symbol(std::int32_t partition, std::string_view bytes) {
  Reader r(bytes);
  const auto magic = r.u32();
  if (magic != kSymbolMagic && magic != kSymbolMagicV3 && magic != kSymbolMagicV2 && magic != kSymbolMagicV1)
    throw SnapshotError("symbol snapshot: unknown format");
  if (magic == kSymbolMagic) r.compact();
  const auto source = r.text();
  const auto symbol = r.text();
  Seen seen;
  seen.partition = partition;
  if (magic != kSymbolMagicV1) {
    const bool has_floor = r.flag();
    const auto floor = r.id();
    std::vector<IdSet::Range> ranges(r.count(16, 2));
    for (auto& [first, last] : ranges) {
      first = r.id();
      last = r.id();
    }
    if (!seen.ids.assign(has_floor ? std::optional(floor) : std::nullopt, std::move(ranges)))
      throw SnapshotError("symbol snapshot: trade ids out of order");
  }
  const auto empty_through = partition_meta(partition).empty_through;
  std::vector<std::pair<std::string, Series>> series;
  const auto n_series = r.count(40, 6);
  for (std::uint32_t i = 0; i < n_series; ++i) {
    Series s;
    s.source = source;
    s.symbol = symbol;
    s.partition = partition;
    const auto ms = r.integer();
    s.closed_until = r.time();
    const bool has_close = r.flag();
    const auto close = r.dec();
    if (has_close) s.last_close = close;
    s.last_trade_time = r.time();
    const auto n_windows = r.count(8, 14);
    for (std::uint32_t k = 0; k < n_windows; ++k) {
      const auto start = r.time();
      Acc& a = s.windows[start];
      for (auto* d : {&a.open, &a.high, &a.low, &a.close, &a.volume, &a.quote_volume, &a.taker_buy_volume})
        *d = r.dec();
      // CSY3 and later keep the taker-buy quote volume; an older window's is unknown and starts at 0.
      a.taker_buy_quote_volume = magic == kSymbolMagic || magic == kSymbolMagicV3 ? r.dec() : Decimal::from_units(0, 0);
      a.open_time = r.time();
      a.open_id = r.id();
      a.close_time = r.time();
      a.close_id = r.id();
      a.trades = r.integer();
    }
    const auto iv = std::find_if(options_.intervals.begin(), options_.intervals.end(),
                                 [&](const Interval& x) { return x.ms == ms; });
    if (iv == options_.intervals.end()) continue;  // CANDLE_INTERVALS no longer has it
    s.interval = static_cast<std::size_t>(iv - options_.intervals.begin());
    // What closing did after this record was saved follows from the partition's empty_through
    // (the highest watermark windows were closed at): every window that ended by then was
    // emitted, with trades or empty, and must not be again.
    if (empty_through != kNone) {
      auto& w = s.windows;
      while (!w.empty() && w.begin()->first + ms <= empty_through) {
        s.last_close = w.begin()->second.close;
        s.closed_until = std::max(s.closed_until, w.begin()->first + ms);
        w.erase(w.begin());
      }
      if (options_.empty_candles && s.last_close && s.closed_until != kNone) {
        auto through = window_start(empty_through, ms);
        if (!w.empty()) through = std::min(through, w.begin()->first);
        s.closed_until = std::max(s.closed_until, through);
      }
    }
    series.emplace_back(series_key(symbol, s.interval), std::move(s));
  }
  std::optional<Average> average;
  if (r.flag()) {
    const auto window_ms = r.integer();
    const auto slide_ms = r.integer();
    Average a;
    a.source = source;
    a.symbol = symbol;
    a.partition = partition;
    a.emitted_until = r.time();
    const auto n_panes = r.count(8, 3);
    for (std::uint32_t k = 0; k < n_panes; ++k) {
      const auto start = r.time();
      auto& pane = a.panes[start];
      pane.sum = r.dec();
      pane.count = r.integer();
    }
    // Likewise the averages: windows that ended by empty_through and held a pane were emitted.
    if (options_.sma && empty_through != kNone) {
      const auto S = options_.sma->slide_ms;
      const auto first_end = a.panes.empty() ? kNone : a.panes.begin()->first + S;
      if (a.emitted_until != kNone || (first_end != kNone && first_end <= empty_through)) {
        a.emitted_until = std::max(a.emitted_until, window_start(empty_through, S));
        a.panes.erase(a.panes.begin(), a.panes.lower_bound(a.emitted_until + S - options_.sma->window_ms));
      }
    }
    if (options_.sma && options_.sma->window_ms == window_ms && options_.sma->slide_ms == slide_ms)
      average = std::move(a);
  }
  if (!r.done()) throw SnapshotError("symbol snapshot: trailing bytes");

  forget_lookups();
  for (std::size_t i = 0; i < options_.intervals.size(); ++i) series_.erase(series_key(symbol, i));
  averages_.erase(symbol);
  seen_.insert_or_assign(symbol, std::move(seen));
  for (auto& [key, s] : series) series_.insert_or_assign(key, std::move(s));
  if (average) averages_.insert_or_assign(symbol, std::move(*average));
}

std::vector<std::string> CandleEngine::evict_quiet(std::int32_t partition, std::int64_t quiet_ms) {
  const auto meta = partition_meta(partition);
  if (meta.max_trade_time == kNone) return {};
  const auto before = meta.max_trade_time - quiet_ms;
  // A symbol is quiet when none of its series has an open window or a recent trade, and its
  // average holds no pane.
  std::map<std::string, bool> quiet;
  for (const auto& [key, s] : series_)
    if (s.partition == partition) {
      auto [it, fresh] = quiet.try_emplace(s.symbol, true);
      it->second = it->second && s.windows.empty() && s.last_trade_time != kNone && s.last_trade_time < before;
    }
  for (const auto& [symbol, a] : averages_)
    if (a.partition == partition)
      if (auto it = quiet.find(symbol); it != quiet.end()) it->second = it->second && a.panes.empty();
  std::vector<std::string> evicted;
  for (const auto& [symbol, yes] : quiet) {
    if (!yes) continue;
    for (std::size_t i = 0; i < options_.intervals.size(); ++i) series_.erase(series_key(symbol, i));
    averages_.erase(symbol);
    seen_.erase(symbol);
    evicted.push_back(symbol);
  }
  if (!evicted.empty()) {
    forget_lookups();
    changed_.insert(partition);
  }
  return evicted;
}

std::size_t CandleEngine::max_symbol_snapshot_bytes(const EngineOptions& o, std::int64_t max_clock_skew_ms) {
  // CSY4 at its widest: a varint of 64 bits takes 10 bytes, a decimal 1 + 19.
  constexpr std::size_t kVar = 10, kDecimal = 1 + 19, kWindow = kVar + 8 * kDecimal + 5 * kVar,
                        kSeries = kVar + kVar + 1 + kDecimal + kVar + kVar;
  constexpr std::size_t kPane = kVar + kDecimal + kVar;
  // Windows open at once: from the watermark (lateness behind the largest trade time) to a trade
  // the clock skew ahead of now, plus the partial windows at both ends.
  const auto span = o.allowed_lateness_ms + std::max<std::int64_t>(0, max_clock_skew_ms);
  std::size_t bytes = 4 + 2 * (kVar + kMaxSymbolLength + kMaxSourceLength) + kVar + 1 + 3 * kVar;
  bytes += 1 + kVar + kVar + IdSet::kMaxRanges * 2 * kVar;  // the trade ids
  for (const auto& iv : o.intervals) bytes += kSeries + static_cast<std::size_t>(span / iv.ms + 2) * kWindow;
  if (o.sma) bytes += static_cast<std::size_t>((o.sma->window_ms + span) / o.sma->slide_ms + 2) * kPane;
  return bytes;
}

// The whole partition: its meta, then each symbol's snapshot.
std::string CandleEngine::snapshot(std::int32_t partition) const {
  Writer w;
  w.u32(kSnapshotMagic);
  const auto meta = partition_meta(partition);
  w.i64(meta.max_trade_time);
  w.i64(meta.empty_through);
  const auto names = symbols(partition);
  w.u32(static_cast<std::uint32_t>(names.size()));
  for (const auto& symbol : names) w.str(snapshot_symbol(symbol));
  return w.take();
}

void CandleEngine::restore(std::int32_t partition, std::string_view bytes, std::int64_t now_ms) {
  Reader r(bytes);
  if (r.u32() != kSnapshotMagic) throw SnapshotError("snapshot: unknown format");
  PartitionMeta meta;
  meta.max_trade_time = r.i64();
  meta.empty_through = r.i64();
  std::vector<std::string> symbols;
  const auto n = r.count(4, 1);
  for (std::uint32_t i = 0; i < n; ++i) symbols.push_back(r.str());
  if (!r.done()) throw SnapshotError("snapshot: trailing bytes");
  // Checked before anything changes: a bad snapshot leaves the engine as it was.
  CandleEngine check(options_);
  check.restore_partition(partition, meta, now_ms);
  for (const auto& s : symbols) check.restore_symbol(partition, s);
  restore_partition(partition, meta, now_ms);
  for (const auto& s : symbols) restore_symbol(partition, s);
}

void CandleEngine::drop_partition(std::int32_t partition) {
  forget_lookups();
  std::erase_if(series_, [&](const auto& kv) { return kv.second.partition == partition; });
  std::erase_if(averages_, [&](const auto& kv) { return kv.second.partition == partition; });
  std::erase_if(seen_, [&](const auto& kv) { return kv.second.partition == partition; });
  partitions_.erase(partition);
  changed_.erase(partition);
  changed_symbols_.erase(partition);
}

}  // namespace cryptoflow::processor
