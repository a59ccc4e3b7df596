#include "cryptoflow/runtime/log.hpp"

#include <catch2/catch.hpp>

using namespace cryptoflow;

TEST_CASE("JSON log escaping keeps one event on one line") {
  std::string out;
  append_json_escaped(out, "a\"b\\c\nd\x01");
  CHECK(out == "a\\\"b\\\\c\\nd\\u0001");
}
