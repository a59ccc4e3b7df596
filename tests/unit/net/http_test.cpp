#include "cryptoflow/http.hpp"

#include <catch2/catch.hpp>

using namespace cryptoflow;

TEST_CASE("base64 for basic auth") {
  CHECK(base64("") == "");
  CHECK(base64("f") == "Zg==");
  CHECK(base64("fo") == "Zm8=");
  CHECK(base64("foo") == "Zm9v");
  CHECK(base64("user:pa ss") == "dXNlcjpwYSBzcw==");
}
