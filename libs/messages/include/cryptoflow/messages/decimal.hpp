#pragma once
// Exact fixed-point decimal: a 128-bit integer mantissa and a count of fractional digits.
// Binance sends prices and quantities as decimal strings ("0.00141342"); they are parsed
// exactly, added and multiplied without rounding, and printed back with the same digits.
// No double ever decides a price or a volume.
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cryptoflow {

class Decimal {
 public:
  __extension__ typedef __int128 Mantissa;
  static constexpr int kMaxScale = 30;  // fractional digits kept at most

  constexpr Decimal() = default;
  static constexpr Decimal from_units(Mantissa units, int scale) { return Decimal(units, scale); }
  static constexpr Decimal from_int(std::int64_t v) { return Decimal(v, 0); }

  // Parses "123", "-0.00141342", "1.5e-8", "3.2014E+2". Returns nullopt for anything else
  // (empty, stray characters, more than kMaxScale fractional digits, out of range).
  static std::optional<Decimal> parse(std::string_view text);

  // Exact arithmetic; nullopt on overflow of the 128-bit mantissa or scale > kMaxScale.
  [[nodiscard]] std::optional<Decimal> checked_add(const Decimal& o) const;
  [[nodiscard]] std::optional<Decimal> checked_mul(const Decimal& o) const;
  // this / o rounded half-away-from-zero to `scale` digits; nullopt on division by zero/overflow.
  [[nodiscard]] std::optional<Decimal> divide(const Decimal& o, int scale) const;

  // Same value with `scale` fractional digits; nullopt if digits would be lost or on overflow.
  [[nodiscard]] std::optional<Decimal> rescaled(int scale) const;
  // Drops trailing fractional zeros (1.500 -> 1.5, 2.000 -> 2).
  [[nodiscard]] Decimal normalized() const;

  [[nodiscard]] Mantissa units() const { return units_; }
  [[nodiscard]] int scale() const { return scale_; }
  [[nodiscard]] bool is_zero() const { return units_ == 0; }
  [[nodiscard]] double to_double() const;  // for display and float-only sinks, never for maths

  // Plain notation with exactly scale() fractional digits: "0.00141342", "-12", "23.00000000".
  [[nodiscard]] std::string to_string() const;
  // Writes to_string() into buf (at least 48 bytes); returns the length.
  std::size_t write(char* buf) const;

  // Numeric comparison: 1.0 == 1.00.
  friend bool operator==(const Decimal& a, const Decimal& b) { return compare(a, b) == 0; }
  friend std::strong_ordering operator<=>(const Decimal& a, const Decimal& b) {
    const int c = compare(a, b);
    return c < 0 ? std::strong_ordering::less : (c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal);
  }

 private:
  constexpr Decimal(Mantissa units, int scale) : units_(units), scale_(scale) {}
  static int compare(const Decimal& a, const Decimal& b);

  Mantissa units_ = 0;
  int scale_ = 0;
};

}  // namespace cryptoflow
