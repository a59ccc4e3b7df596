#include "rollup.hpp"

#include <algorithm>
#include <charconv>

#include "store.hpp"

namespace cryptoflow::gateway {
namespace {

constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kMonday = 4 * kDay;  // 1970-01-01 was a Thursday: the first Monday is 01-05

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const auto q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Days since 1970-01-01 <-> civil dates (proleptic Gregorian; H. Hinnant's algorithms).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(y, 400);
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m) {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

bool is_month(std::string_view interval) {
  return interval == "1M";
}

}  // namespace

std::optional<std::int64_t> parse_time_zone(std::string_view text) {
  if (text.empty()) return std::int64_t{0};
  int sign = 1;
  if (text.front() == '+' || text.front() == '-') {
    sign = text.front() == '-' ? -1 : 1;
    text.remove_prefix(1);
  }
  const auto colon = text.find(':');
  const auto hours_text = text.substr(0, colon);
  int hours = 0, minutes = 0;
  const auto number = [](std::string_view s, int& out) {
    if (s.empty() || s.size() > 2) return false;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
  };
  if (!number(hours_text, hours)) return std::nullopt;
  if (colon != std::string_view::npos && (!number(text.substr(colon + 1), minutes) || minutes > 59))
    return std::nullopt;
  const std::int64_t offset = sign * (std::int64_t{hours} * 3'600'000 + std::int64_t{minutes} * 60'000);
  if (offset < std::int64_t{-12} * 3'600'000 || offset > std::int64_t{14} * 3'600'000) return std::nullopt;
  return offset;
}

std::int64_t floor_to(std::int64_t t, std::int64_t step) {
  return floor_div(t, step) * step;
}

std::int64_t window_open(std::int64_t t, std::string_view interval, std::int64_t offset_ms) {
  const auto local = t + offset_ms;
  if (is_month(interval)) {
    std::int64_t y = 0;
    unsigned m = 0;
    civil_from_days(floor_div(local, kDay), y, m);
    return days_from_civil(y, m, 1) * kDay - offset_ms;
  }
  const auto ms = interval_ms(interval);
  const auto origin = interval == "1w" ? kMonday : 0;
  return floor_to(local - origin, ms) + origin - offset_ms;
}

std::int64_t window_next(std::int64_t open, std::string_view interval, std::int64_t offset_ms) {
  if (!is_month(interval)) return open + interval_ms(interval);
  std::int64_t y = 0;
  unsigned m = 0;
  civil_from_days(floor_div(open + offset_ms, kDay), y, m);
  if (++m == 13) {
    m = 1;
    ++y;
  }
  return days_from_civil(y, m, 1) * kDay - offset_ms;
}

bool serves_directly(const std::vector<std::string>& held, std::string_view interval, std::int64_t offset_ms) {
  // "1w" and "1M" are never the processor's own windows (it aligns every length to the epoch).
  if (interval == "1w" || is_month(interval) || std::find(held.begin(), held.end(), interval) == held.end())
    return false;
  return offset_ms % interval_ms(interval) == 0;
}

std::string base_interval(const std::vector<std::string>& held, std::string_view interval, std::int64_t offset_ms) {
  // A month is whole days; a week is whole days from a Monday (itself a whole number of days).
  const auto target = is_month(interval) || interval == "1w" ? kDay : interval_ms(interval);
  std::string best;
  for (const auto& h : held) {
    const auto ms = interval_ms(h);
    if (ms == 0 || h == "1w" || is_month(h) || target % ms != 0 || offset_ms % ms != 0) continue;
    if (interval == "1w" && kMonday % ms != 0) continue;
    if (best.empty() || ms > interval_ms(best)) best = h;
  }
  return best;
}

std::vector<Candle> roll_up(const std::vector<Candle>& base, std::string_view interval, std::int64_t offset_ms,
                            std::optional<std::int64_t> origin) {
  std::vector<Candle> out;
  bool open = false;    // a window is being made
  bool broken = false;  // the window being made misses a base candle
  bool finals = true;
  Candle w;
  const auto sum = [](Decimal& into, const Decimal& d) { into = into.checked_add(d).value_or(into); };
  const auto close_window = [&](bool last) {
    if (!open || broken) return;
    const bool complete = w.end == window_next(w.start, interval, offset_ms);
    if (!complete && !last) return;  // a gap before the window's end
    w.final = complete && finals;
    const auto scale = w.vwap.scale();
    w.vwap = w.volume.is_zero() ? w.close : w.quote_volume.divide(w.volume, scale).value_or(w.close);
    out.push_back(w);
  };
  for (const auto& b : base) {
    const auto start = window_open(b.start, interval, offset_ms);
    if (!open || start != w.start) {
      close_window(false);
      open = true;
      broken = b.start != start && b.start != origin;
      w = b;
      w.interval = std::string(interval);
      w.start = start;
      finals = b.final;
      continue;
    }
    if (b.start != w.end) broken = true;
    w.end = b.end;
    // A window without trades carries the last price as its open, high, low and close: Binance's
    // longer windows take their prices from the windows with trades only.
    if (b.trades > 0 && w.trades == 0) {
      w.open = b.open;
      w.high = b.high;
      w.low = b.low;
    } else if (b.trades > 0) {
      w.high = std::max(w.high, b.high);
      w.low = std::min(w.low, b.low);
    }
    if (b.trades > 0 || w.trades == 0) w.close = b.close;
    sum(w.volume, b.volume);
    sum(w.quote_volume, b.quote_volume);
    sum(w.taker_buy_volume, b.taker_buy_volume);
    sum(w.taker_buy_quote_volume, b.taker_buy_quote_volume);
    w.trades += b.trades;
    finals = finals && b.final;
  }
  close_window(true);
  return out;
}

}  // namespace cryptoflow::gateway
