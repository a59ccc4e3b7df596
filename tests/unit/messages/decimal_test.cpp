#include "cryptoflow/messages/decimal.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using cryptoflow::Decimal;

static Decimal D(const char* s) {
  auto d = Decimal::parse(s);
  REQUIRE(d.has_value());
  return *d;
}

TEST_CASE("Decimal parses Binance strings exactly and prints the same digits") {
  for (const char* s :
       {"0.00141342", "23.00000000", "67123.45000000", "0", "-12.5", "1", "0.1", "123456789012345678.123456789012"}) {
    CHECK(D(s).to_string() == s);
  }
  CHECK(D("0.00141342").units() == 141342);
  CHECK(D("0.00141342").scale() == 8);
  CHECK(D("+7").to_string() == "7");
}

TEST_CASE("Decimal parses exponent forms (CoinGecko) exactly") {
  CHECK(D("3.2014e-8").to_string() == "0.000000032014");
  CHECK(D("5.6366e-11") == D("0.000000000056366"));
  CHECK(D("1E+3").to_string() == "1000");
  CHECK(D("1.5e1").to_string() == "15");
  CHECK(D("1.25e1").to_string() == "12.5");
}

TEST_CASE("Decimal rejects what is not a number") {
  for (const char* s : {"", "-", ".", "abc", "1.2.3", "1e", "1e+", "12a", " 1", "1 ", "0x10", "NaN", "inf", "1e99999",
                        "1.0000000000000000000000000000001"}) {
    INFO(s);
    CHECK_FALSE(Decimal::parse(s).has_value());
  }
  // Too large for 128 bits.
  CHECK_FALSE(Decimal::parse("1000000000000000000000000000000000000000000").has_value());
  // Extra zero digits beyond the maximum scale are harmless.
  CHECK(D("1.0000000000000000000000000000000000") == D("1"));
}

TEST_CASE("Decimal adds without rounding and compares numerically") {
  const auto sum = *D("0.1").checked_add(D("0.2"));
  CHECK(sum == D("0.3"));  // a double would say 0.30000000000000004
  CHECK(sum.to_string() == "0.3");
  CHECK(D("1.0") == D("1.00"));
  CHECK(D("1.10") > D("1.09"));
  CHECK(D("-1") < D("0"));
  CHECK(D("23.00000000").checked_add(D("54.00000000"))->to_string() == "77.00000000");
  // A million additions of a small quantity stay exact.
  Decimal acc = D("0");
  for (int i = 0; i < 1'000'000; ++i) acc = *acc.checked_add(D("0.00000001"));
  CHECK(acc == D("0.01"));
}

TEST_CASE("Decimal multiplies exactly and divides with half-away-from-zero rounding") {
  CHECK(D("0.00141342").checked_mul(D("23.00000000"))->normalized().to_string() == "0.03250866");
  CHECK(D("2").divide(D("3"), 4)->to_string() == "0.6667");
  CHECK(D("1").divide(D("8"), 2)->to_string() == "0.13");
  CHECK(D("-1").divide(D("8"), 2)->to_string() == "-0.13");
  CHECK_FALSE(D("1").divide(D("0"), 2).has_value());
}

TEST_CASE("Decimal overflow is reported - never wrapped") {
  const auto big = Decimal::from_units(static_cast<Decimal::Mantissa>(1) << 126, 0);
  CHECK_FALSE(big.checked_add(big).has_value());  // 2^127 does not fit
  CHECK_FALSE(big.checked_mul(D("4")).has_value());
  CHECK(big.checked_add(D("1")).has_value());
}

TEST_CASE("Decimal rescales only when no digit is lost") {
  CHECK(D("1.5").rescaled(3)->to_string() == "1.500");
  CHECK(D("1.500").rescaled(1)->to_string() == "1.5");
  CHECK_FALSE(D("1.55").rescaled(1).has_value());
  CHECK(D("2.000").normalized().to_string() == "2");
}

namespace {
__extension__ typedef __int128 I128;
__extension__ typedef unsigned __int128 U128;

// The plain digit-by-digit definitions, to check the fast paths against.
std::string reference_string(I128 units, int scale) {
  const bool negative = units < 0;
  U128 u = negative ? static_cast<U128>(-(units + 1)) + 1 : static_cast<U128>(units);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  } while (u != 0);
  while (static_cast<int>(digits.size()) <= scale) digits.insert(digits.begin(), '0');
  if (scale > 0) digits.insert(digits.end() - scale, '.');
  return negative ? "-" + digits : digits;
}
}  // namespace

TEST_CASE("Decimal prints and parses every magnitude exactly: 64-bit fast paths and 128-bit values") {
  std::mt19937_64 rng(7);
  const I128 max = static_cast<I128>(~static_cast<U128>(0) >> 1);
  std::vector<I128> values{0,
                           1,
                           -1,
                           9,
                           10,
                           99,
                           100,
                           INT64_MAX,
                           INT64_MIN,
                           static_cast<I128>(UINT64_MAX),
                           static_cast<I128>(UINT64_MAX) + 1,
                           -static_cast<I128>(UINT64_MAX) - 1,
                           max,
                           -max,
                           -max - 1};
  I128 p10 = 1;
  for (int k = 0; k <= 38; ++k) {  // around every power of ten
    for (I128 v : {p10 - 1, p10, p10 + 1}) values.insert(values.end(), {v, -v});
    if (k < 38) p10 *= 10;
  }
  for (int i = 0; i < 20'000; ++i) {
    const int bits = 1 + static_cast<int>(rng() % 126);
    I128 v = (static_cast<I128>(rng() >> 1) << 64 | rng()) >> (126 - bits);
    values.push_back(rng() & 1 ? -v : v);
  }
  for (const I128 v : values)
    for (int scale : {0, 1, 8, 18, 19, 30}) {
      const auto d = Decimal::from_units(v, scale);
      const auto text = reference_string(v, scale);
      INFO(text);
      REQUIRE(d.to_string() == text);
      if (v == -max - 1) continue;  // its magnitude, 2^127, is one more than parse accumulates
      const auto back = Decimal::parse(text);
      REQUIRE(back.has_value());
      CHECK(back->units() == v);
      CHECK(back->scale() == scale);
    }
}

TEST_CASE("Decimal arithmetic's fast paths agree with the aligned ones") {
  // Same scale (no alignment) and 64-bit operands (one multiplication) against mixed scales.
  CHECK(D("1.25").checked_add(D("2.50"))->to_string() == "3.75");
  CHECK(D("1.25").checked_add(D("2.5"))->to_string() == "3.75");
  CHECK(D("-0.00000001").checked_add(D("0.00000001"))->to_string() == "0.00000000");
  const auto i64max = Decimal::from_units(INT64_MAX, 0);
  CHECK(i64max.checked_mul(i64max)->to_string() == "85070591730234615847396907784232501249");
  CHECK(Decimal::from_units(INT64_MIN, 0).checked_mul(Decimal::from_units(INT64_MIN, 0))->to_string() ==
        "85070591730234615865843651857942052864");
  const auto big = Decimal::from_units(static_cast<Decimal::Mantissa>(1) << 126, 0);
  CHECK_FALSE(big.checked_add(Decimal::from_units(static_cast<Decimal::Mantissa>(1) << 126, 0)).has_value());
  CHECK_FALSE(Decimal::from_units(static_cast<Decimal::Mantissa>(INT64_MAX) + 1, 0).checked_mul(big).has_value());
}
