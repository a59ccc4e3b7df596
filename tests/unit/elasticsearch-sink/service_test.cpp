// elasticsearch-sink's configuration: defaults, and every bad value refused naming its variable.
#include "elasticsearch-sink/src/service.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace cryptoflow;

namespace {

elastic::Options parse(Config::Env env) {
  return elastic::parse(Config(elastic::service_info().vars, std::move(env)));
}

std::string error_of(Config::Env env) {
  return test::config_error(elastic::service(), std::move(env));
}

}  // namespace

TEST_CASE("elasticsearch-sink: the contract's defaults") {
  const auto o = parse({});
  CHECK(o.es.url == "http://localhost:9200");
  CHECK(o.es.index_prefix == "crypto");
  CHECK(o.sink.batch_size == 2000);
  CHECK(o.sink.group_id == "elasticsearch-sink");
  CHECK(o.sink.topics.size() == 3);
}

TEST_CASE("elasticsearch-sink: bad values are refused naming the variable") {
  CHECK(error_of({{"ES_URL", "es:9200"}}).find("ES_URL='es:9200'") == 0);
  for (const auto* prefix : {"Crypto", "a b", "x/y", "a*", "", "_x", "-x", "+x", ".", ".."})
    CHECK(error_of({{"ES_INDEX_PREFIX", prefix}}).find("ES_INDEX_PREFIX='") == 0);
  CHECK(error_of({{"ES_INDEX_PREFIX", std::string(245, 'a')}}).find("ES_INDEX_PREFIX='") == 0);
  CHECK(parse({{"ES_INDEX_PREFIX", std::string(244, 'a')}}).es.index_prefix.size() == 244);
  CHECK(parse({{"ES_INDEX_PREFIX", "crypto_x.v2"}}).es.index_prefix == "crypto_x.v2");
  CHECK(error_of({{"ES_URL", "http://elastic:pw@es:92000"}}) ==
        "ES_URL='http://***@es:92000' has port '92000': 1-65535");
  CHECK(error_of({{"ES_BULK_ACTIONS", "many"}}).find("ES_BULK_ACTIONS='many'") == 0);
}
