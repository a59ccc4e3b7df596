#include "cryptoflow/messages/decimal.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace cryptoflow {
namespace {

using M = Decimal::Mantissa;

constexpr std::array<M, 39> make_pow10() {
  std::array<M, 39> p{};
  p[0] = 1;
  for (std::size_t i = 1; i < p.size(); ++i) p[i] = p[i - 1] * 10;
  return p;
}
constexpr auto kPow10 = make_pow10();

// units * 10^k, or nullopt on overflow.
std::optional<M> scale_up(M units, int k) {
  if (k < 0 || k >= static_cast<int>(kPow10.size())) return std::nullopt;
  M out;
  if (__builtin_mul_overflow(units, kPow10[static_cast<std::size_t>(k)], &out)) return std::nullopt;
  return out;
}

}  // namespace

std::optional<Decimal> Decimal::parse(std::string_view s) {
  if (s.empty() || s.size() > 128) return std::nullopt;
  std::size_t i = 0;
  bool negative = false;
  if (s[i] == '+' || s[i] == '-') {
    negative = s[i] == '-';
    ++i;
  }
  // The first 18 digits go into 64 bits, which cannot overflow (Binance's prices and quantities
  // have at most 16); only longer mantissas take the 128-bit path with its overflow checks.
  std::uint64_t head = 0;
  M units = 0;
  int scale = 0;
  int digits = 0;
  bool seen_point = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      if (digits < 18) {
        head = head * 10 + static_cast<std::uint64_t>(c - '0');
      } else {
        if (digits == 18) units = static_cast<M>(head);
        if (__builtin_mul_overflow(units, 10, &units) || __builtin_add_overflow(units, c - '0', &units))
          return std::nullopt;
      }
      ++digits;
      if (seen_point) ++scale;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (digits == 0) return std::nullopt;
  if (digits <= 18) units = static_cast<M>(head);
  if (i < s.size()) {  // exponent part
    if (s[i] != 'e' && s[i] != 'E') return std::nullopt;
    ++i;
    bool exp_negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      exp_negative = s[i] == '-';
      ++i;
    }
    if (i == s.size()) return std::nullopt;
    int exp = 0;
    for (; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9' || exp > 1000) return std::nullopt;
      exp = exp * 10 + (s[i] - '0');
    }
    if (exp_negative) {
      scale += exp;
    } else if (exp <= scale) {
      scale -= exp;
    } else {
      auto up = scale_up(units, exp - scale);
      if (!up) return std::nullopt;
      units = *up;
      scale = 0;
    }
  }
  if (scale > kMaxScale) {
    // Accept only if the extra digits are zeros ("1.0000...0").
    Decimal d(units, scale);
    auto n = d.normalized();
    if (n.scale_ > kMaxScale) return std::nullopt;
    units = n.units_;
    scale = n.scale_;
  }
  return Decimal(negative ? -units : units, scale);
}

std::optional<Decimal> Decimal::rescaled(int scale) const {
  if (scale < 0 || scale > kMaxScale) return std::nullopt;
  if (scale >= scale_) {
    auto up = scale_up(units_, scale - scale_);
    if (!up) return std::nullopt;
    return Decimal(*up, scale);
  }
  const M div = kPow10[static_cast<std::size_t>(scale_ - scale)];
  if (units_ % div != 0) return std::nullopt;
  return Decimal(units_ / div, scale);
}

Decimal Decimal::normalized() const {
  Decimal d = *this;
  while (d.scale_ > 0 && d.units_ % 10 == 0) {
    d.units_ /= 10;
    --d.scale_;
  }
  return d;
}

std::optional<Decimal> Decimal::checked_add(const Decimal& o) const {
  if (scale_ == o.scale_) {  // the usual case (a window's sums keep the trades' scale): no alignment
    M sum;
    if (__builtin_add_overflow(units_, o.units_, &sum)) return std::nullopt;
    return Decimal(sum, scale_);
  }
  const int scale = std::max(scale_, o.scale_);
  auto a = scale_up(units_, scale - scale_);
  auto b = scale_up(o.units_, scale - o.scale_);
  M sum;
  if (!a || !b || __builtin_add_overflow(*a, *b, &sum)) return std::nullopt;
  return Decimal(sum, scale);
}

std::optional<Decimal> Decimal::checked_mul(const Decimal& o) const {
  M product;
  const auto a = static_cast<std::int64_t>(units_), b = static_cast<std::int64_t>(o.units_);
  if (a == units_ && b == o.units_) {
    product = static_cast<M>(a) * b;  // 64 x 64 bits fit in 128: one multiplication, no check
  } else if (__builtin_mul_overflow(units_, o.units_, &product)) {
    return std::nullopt;
  }
  Decimal d(product, scale_ + o.scale_);
  if (d.scale_ > kMaxScale) {
    d = d.normalized();
    if (d.scale_ > kMaxScale) return std::nullopt;
  }
  return d;
}

std::optional<Decimal> Decimal::divide(const Decimal& o, int scale) const {
  if (o.units_ == 0 || scale < 0 || scale > kMaxScale) return std::nullopt;
  // value = (a / 10^sa) / (b / 10^sb); result units = a * 10^(scale + sb - sa) / b.
  M num = units_;
  M den = o.units_;
  const int shift = scale + o.scale_ - scale_;
  if (shift >= 0) {
    auto up = scale_up(num, shift);
    if (!up) return std::nullopt;
    num = *up;
  } else {
    auto up = scale_up(den, -shift);
    if (!up) return std::nullopt;
    den = *up;
  }
  M q = num / den;
  const M r = num % den;
  // Round half away from zero: compare 2|r| with |den|.
  const M abs_r = r < 0 ? -r : r;
  const M abs_den = den < 0 ? -den : den;
  if (abs_r >= abs_den - abs_r) q += ((num < 0) != (den < 0)) ? -1 : 1;
  return Decimal(q, scale);
}

double Decimal::to_double() const {
  char buf[64];
  const std::size_t n = write(buf);
  buf[n] = '\0';
  return std::strtod(buf, nullptr);
}

std::size_t Decimal::write(char* buf) const {
  // The digits of |units|, least significant first, written backwards from the end of `digits`:
  // 19 at a time with one 128-bit division while it does not fit 64 bits, then two at a time
  // with 64-bit arithmetic (a multiplication, not a division call, per pair).
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  constexpr std::uint64_t k19 = 10'000'000'000'000'000'000ULL;
  __extension__ typedef unsigned __int128 U128;
  const bool negative = units_ < 0;
  U128 u = negative ? static_cast<U128>(-(units_ + 1)) + 1 : static_cast<U128>(units_);
  char digits[48];
  char* const end = digits + sizeof digits;
  char* p = end;
  while (u > UINT64_MAX) {
    auto chunk = static_cast<std::uint64_t>(u % k19);
    u /= k19;
    for (int i = 0; i < 19; ++i, chunk /= 10) *--p = static_cast<char>('0' + chunk % 10);
  }
  auto v = static_cast<std::uint64_t>(u);
  while (v >= 100) {
    const auto pair = static_cast<std::size_t>(v % 100) * 2;
    v /= 100;
    p -= 2;
    p[0] = kPairs[pair];
    p[1] = kPairs[pair + 1];
  }
  if (v >= 10) {
    p -= 2;
    p[0] = kPairs[v * 2];
    p[1] = kPairs[v * 2 + 1];
  } else {
    *--p = static_cast<char>('0' + v);
  }
  while (end - p <= scale_) *--p = '0';  // at least one integer digit
  const auto n = static_cast<std::size_t>(end - p);
  const auto fraction = static_cast<std::size_t>(scale_);
  std::size_t len = 0;
  if (negative) buf[len++] = '-';
  std::memcpy(buf + len, p, n - fraction);
  len += n - fraction;
  if (fraction > 0) {
    buf[len++] = '.';
    std::memcpy(buf + len, end - fraction, fraction);
    len += fraction;
  }
  return len;
}

std::string Decimal::to_string() const {
  char buf[64];
  return std::string(buf, write(buf));
}

int Decimal::compare(const Decimal& a, const Decimal& b) {
  if (a.scale_ == b.scale_) return a.units_ < b.units_ ? -1 : (a.units_ > b.units_ ? 1 : 0);
  const int scale = std::max(a.scale_, b.scale_);
  auto x = scale_up(a.units_, scale - a.scale_);
  auto y = scale_up(b.units_, scale - b.scale_);
  if (x && y) return *x < *y ? -1 : (*x > *y ? 1 : 0);
  // Overflow while aligning: the one that overflowed has the larger magnitude.
  if (!x) return a.units_ < 0 ? -1 : 1;
  return b.units_ < 0 ? 1 : -1;
}

}  // namespace cryptoflow
