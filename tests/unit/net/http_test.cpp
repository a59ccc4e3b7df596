#include "cryptoflow/net/http.hpp"

#include <catch2/catch.hpp>

using namespace cryptoflow;

TEST_CASE("base64 for basic auth") {
  CHECK(base64("") == "");
  CHECK(base64("f") == "Zg==");
  CHECK(base64("fo") == "Zm8=");
  CHECK(base64("foo") == "Zm9v");
  CHECK(base64("user:pa ss") == "dXNlcjpwYSBzcw==");
}

TEST_CASE("Retry-After: seconds or an HTTP-date, never longer than the cap") {
  using namespace std::chrono_literals;
  // 2026-11-30T12:00:00Z
  const auto now = std::chrono::system_clock::from_time_t(1'796'040'000);
  CHECK(parse_retry_after("7", 60s, now) == 7s);
  CHECK(parse_retry_after(" 120 ", 60s, now) == 60s);           // cut to the cap
  CHECK(parse_retry_after("259200", 60s, now) == 60s);          // Binance's 3-day ban
  CHECK(parse_retry_after("99999999999999", 60s, now) == 60s);  // no overflow
  CHECK(parse_retry_after("Mon, 30 Nov 2026 12:00:30 GMT", 60s, now) == 30s);
  CHECK(parse_retry_after("Tue, 01 Dec 2026 12:00:00 GMT", 60s, now) == 60s);
  CHECK_FALSE(parse_retry_after("Mon, 30 Nov 2026 11:00:00 GMT", 60s, now));  // in the past
  CHECK_FALSE(parse_retry_after("0", 60s, now));
  CHECK_FALSE(parse_retry_after("-5", 60s, now));
  CHECK_FALSE(parse_retry_after("soon", 60s, now));
  CHECK_FALSE(parse_retry_after("", 60s, now));
}
