#include "elasticsearch-sink/src/es_destination.hpp"

#include <catch2/catch.hpp>

using namespace cryptoflow;
using namespace cryptoflow::elastic;

TEST_CASE("_bulk answers: per-item status decides written - retry - rejected") {
  const auto r = parse_bulk_response(
      R"({"took":3,"errors":true,"items":[
        {"index":{"_index":"crypto-candles","_id":"a","status":201,"result":"created"}},
        {"index":{"_index":"crypto-candles","_id":"b","status":200,"result":"updated"}},
        {"index":{"_index":"crypto-candles","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
        {"index":{"_index":"crypto-candles","_id":"d","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [close]"}}},
        {"index":{"_index":"crypto-candles","_id":"e","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary not active"}}}]})",
      6);
  REQUIRE(r.size() == 6);
  CHECK(r[0].disposition == sink::Disposition::written);
  CHECK(r[1].disposition == sink::Disposition::written);
  CHECK(r[2].disposition == sink::Disposition::retry);
  CHECK(r[3].disposition == sink::Disposition::rejected);
  CHECK(r[3].reason == "elasticsearch rejected (400): mapper_parsing_exception: failed to parse field [close]");
  CHECK(r[4].disposition == sink::Disposition::retry);
  CHECK(r[5].disposition == sink::Disposition::retry);  // no answer for it: never assume written
  for (const auto& x : parse_bulk_response("<html>", 2)) CHECK(x.disposition == sink::Disposition::retry);
}

TEST_CASE("_bulk answers: an index write block (403) or a missing index (404) waits - it is not the document's fault") {
  const auto r = parse_bulk_response(
      R"({"errors":true,"items":[
        {"index":{"_index":"crypto-candles","_id":"a","status":403,"error":{"type":"cluster_block_exception","reason":"index [crypto-candles] blocked by: [FORBIDDEN/8/index write (api)];"}}},
        {"index":{"_index":"crypto-candles","_id":"b","status":404,"error":{"type":"index_not_found_exception","reason":"no such index [crypto-candles]"}}},
        {"index":{"_index":"crypto-candles","_id":"c","status":409,"error":{"type":"version_conflict_engine_exception","reason":"conflict"}}}]})",
      3);
  CHECK(r[0].disposition == sink::Disposition::retry);
  CHECK(r[1].disposition == sink::Disposition::retry);
  CHECK(r[2].disposition == sink::Disposition::rejected);
  CHECK(item_disposition(401) == sink::Disposition::retry);
  CHECK(item_disposition(408) == sink::Disposition::retry);
  CHECK(item_disposition(400) == sink::Disposition::rejected);
}
