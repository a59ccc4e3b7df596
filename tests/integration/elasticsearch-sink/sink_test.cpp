// elasticsearch-sink against a stand-in for Elasticsearch's REST API (no Elasticsearch can be
// installed here) that reproduces the documented behaviour: index templates (PUT
// /_index_template), _bulk with per-item status, errors=true, 429 items, mapping errors,
// documents stored by _id. An opt-in test runs against a real cluster when ES_URL is set.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <sstream>

#include "cryptoflow/net/http.hpp"
#include "cryptoflow/sink/batch_sink.hpp"
#include "dev-broker/src/dev_broker.hpp"
#include "elasticsearch-sink/src/es_destination.hpp"
#include "embedded_broker.hpp"
#include "fake_elasticsearch.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace std::chrono_literals;
using cryptoflow::test::props_for;

using cryptoflow::test::FakeElasticsearch;

TEST_CASE(
    "elasticsearch-sink: templates first - per-item retries - mapping errors to dead-letter - replays change "
    "nothing - an outage loses nothing",
    "[long]") {
  DevBroker broker({1, 0, 3}, {"crypto.candles", "crypto.tickers", "crypto.indicators", "crypto.dead-letter"});
  FakeElasticsearch es;
  MetricsRegistry metrics;
  elastic::EsDestination destination({es.url(), "", "", "c2VjcmV0OmtleQ==", "crypto"}, {});
  REQUIRE(destination.install_templates().empty());
  CHECK(es.templates() == std::set<std::string>{"crypto-candles", "crypto-tickers", "crypto-indicators"});

  kafka::KafkaProducer p(props_for(broker), metrics);
  for (int i = 0; i < 30; ++i) {
    const auto c = test::sample_candle("XRPETH", 1570752000000 + i * 60'000);
    cryptoflow::test::produce(p, "crypto.candles", candle_key(c), to_json(c), c.start);
  }
  for (const char* sym : {"MAPERR", "BUSY"}) {
    const auto c = test::sample_candle(sym, 1570752000000);
    cryptoflow::test::produce(p, "crypto.candles", candle_key(c), to_json(c), c.start);
  }
  cryptoflow::test::produce(p, "crypto.candles", "x", "{\"not\":\"a candle\"}", 0);
  Ticker t{"coingecko",  "bitcoin",    "btc",        "Bitcoin",     "usd",        Decimal::parse("16951.52"),
           std::nullopt, std::nullopt, std::nullopt, 1673196580132, 1673196580200};
  cryptoflow::test::produce(p, "crypto.tickers", ticker_key(t), to_json(t), t.last_updated);
  REQUIRE_NOTHROW(p.flush(10s));

  sink::SinkOptions so;
  so.group_id = "elasticsearch-sink";
  so.topics = {"crypto.candles", "crypto.tickers"};
  so.batch_size = 1000;
  so.flush_interval = 300ms;
  so.first_backoff = 50ms;
  {
    kafka::KafkaConsumer input(props_for(broker), so.group_id);
    kafka::KafkaProducer dead_letters(props_for(broker), metrics);
    sink::BatchSink sink(so, {input, dead_letters}, destination, metrics);
    test::Running running(sink);
    REQUIRE(test::eventually([&] { return es.docs("crypto-candles") == 31 && es.docs("crypto-tickers") == 1; }, 30s));
    REQUIRE(test::eventually([&] { return metrics.value("cryptoflow_sink_dead_lettered_total") == 2; }, 30s));
    CHECK(metrics.value("cryptoflow_sink_rejected_total") == 1);
    CHECK(es.doc("crypto-candles", "BUSY-1m-1570752000000").find("\"close\":1.25") != std::string::npos);
    CHECK(es.doc("crypto-tickers", "bitcoin:usd-1673196580132").find("\"price\":16951.52") != std::string::npos);

    // The 429 item was retried alone: the bulk after the first carried exactly one action.
    const auto reqs = es.requests();
    std::vector<std::size_t> actions;
    for (const auto& r : reqs) {
      if (r.target != "/_bulk") continue;
      const auto body = *gunzip(r.body);
      actions.push_back(static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n') / 2));
      CHECK(r.headers.at("content-type") == "application/x-ndjson");
      CHECK(r.headers.at("authorization") == "ApiKey c2VjcmV0OmtleQ==");
    }
    REQUIRE(actions.size() >= 2);
    CHECK(actions[1] == 1);

    // Outage: the cluster answers 503; new candles wait in Kafka; nothing is lost.
    es.down = true;
    for (int i = 30; i < 40; ++i) {
      const auto c = test::sample_candle("XRPETH", 1570752000000 + i * 60'000);
      cryptoflow::test::produce(p, "crypto.candles", candle_key(c), to_json(c), c.start);
    }
    REQUIRE_NOTHROW(p.flush(10s));
    REQUIRE(test::eventually([&] { return !sink.ready(); }, 30s));
    std::this_thread::sleep_for(1s);
    es.down = false;
    REQUIRE(test::eventually([&] { return es.docs("crypto-candles") == 41; }, 60s));
    CHECK(test::eventually([&] { return sink.ready(); }, 30s));
  }
  // A second consumer group replays everything: same ids, same document count.
  so.group_id = "elasticsearch-sink-replay";
  MetricsRegistry replay_metrics;
  {
    kafka::KafkaConsumer replay_input(props_for(broker), so.group_id);
    kafka::KafkaProducer replay_dead_letters(props_for(broker), replay_metrics);
    sink::BatchSink replay(so, {replay_input, replay_dead_letters}, destination, replay_metrics);
    test::Running running(replay);
    REQUIRE(test::eventually([&] { return replay_metrics.value("cryptoflow_sink_written_total") >= 42; }, 30s));
  }
  CHECK(es.docs("crypto-candles") == 41);
  CHECK(es.docs("crypto-tickers") == 1);

  // Each group dead-letters the two bad records once: four in all.
  const auto errors = test::dead_letter_errors(broker, "crypto.dead-letter", 4);
  CHECK(errors.size() == 4);
  CHECK(std::count(errors.begin(), errors.end(),
                   "elasticsearch rejected (400): mapper_parsing_exception: failed to parse field [close] of type "
                   "[double]") == 2);
  CHECK(std::count(errors.begin(), errors.end(), "field 'source': missing") == 2);
}

TEST_CASE("elasticsearch-sink: an index write block or a missing index waits like an outage - a 413 bulk is halved") {
  DevBroker broker({1, 0, 1}, {"crypto.candles", "crypto.dead-letter"});
  FakeElasticsearch es;
  MetricsRegistry metrics;
  elastic::EsDestination destination({es.url(), "", "", "", "crypto"}, {});
  kafka::KafkaProducer p(props_for(broker), metrics);
  const auto put = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      const auto c = test::sample_candle("XRPETH", 1570752000000 + i * 60'000);
      cryptoflow::test::produce(p, "crypto.candles", candle_key(c), to_json(c), c.start);
    }
    REQUIRE_NOTHROW(p.flush(10s));
  };
  sink::SinkOptions so;
  so.group_id = "elasticsearch-sink";
  so.topics = {"crypto.candles"};
  so.batch_size = 1000;
  so.flush_interval = 300ms;
  so.first_backoff = 50ms;
  so.max_backoff = 200ms;
  kafka::KafkaConsumer input(props_for(broker), so.group_id);
  kafka::KafkaProducer dead_letters(props_for(broker), metrics);
  sink::BatchSink sink(so, {input, dead_letters}, destination, metrics);
  test::Running running(sink);

  for (const int refusal : {403, 404}) {
    INFO("item status " << refusal);
    es.item_refusal = refusal;
    const auto before = es.docs("crypto-candles");
    const auto retries = metrics.value("cryptoflow_sink_retries_total");
    put(static_cast<int>(before), static_cast<int>(before) + 10);
    REQUIRE(test::eventually([&] { return metrics.value("cryptoflow_sink_retries_total") >= retries + 3; }, 30s));
    CHECK_FALSE(sink.ready());
    CHECK(es.docs("crypto-candles") == before);
    es.item_refusal = 0;  // the operator lifts the block / creates the index
    REQUIRE(test::eventually([&] { return es.docs("crypto-candles") == before + 10; }, 30s));
    CHECK(test::eventually([&] { return sink.ready(); }, 30s));
    CHECK(metrics.value("cryptoflow_sink_dead_lettered_total") == 0);
  }

  // A bulk over http.max_content_length: halved until each part fits; nothing to dead-letter.
  const auto one = test::sample_candle("XRPETH", 1570752000000);
  std::string action;
  REQUIRE(elastic::encode_record({}, "crypto", "crypto.candles", to_json(one), action).empty());
  es.max_content_length = action.size() * 7;
  const auto bulks_before = es.requests().size();
  put(20, 120);
  REQUIRE(test::eventually([&] { return es.docs("crypto-candles") == 120; }, 30s));
  std::size_t too_large = 0;
  const auto reqs = es.requests();
  for (std::size_t i = bulks_before; i < reqs.size(); ++i) {
    const auto body = *gunzip(reqs[i].body);
    if (body.size() > es.max_content_length) ++too_large;
  }
  CHECK(too_large > 0);  // the first tries were too large, and were split
  CHECK(metrics.value("cryptoflow_sink_dead_lettered_total") == 0);
}

// Opt-in: `ES_URL=http://localhost:9200 integration_tests "[.real-es]"` runs against a real cluster.
TEST_CASE("Real Elasticsearch: templates and idempotent bulk writes", "[.real-es]") {
  const char* url = std::getenv("ES_URL");
  REQUIRE(url != nullptr);
  const std::string prefix = "cryptoflow-test-" + std::to_string(::getpid());
  elastic::EsDestination destination({url, std::getenv("ES_USERNAME") ? std::getenv("ES_USERNAME") : "",
                                      std::getenv("ES_PASSWORD") ? std::getenv("ES_PASSWORD") : "",
                                      std::getenv("ES_API_KEY") ? std::getenv("ES_API_KEY") : "", prefix},
                                     {});
  REQUIRE(destination.install_templates().empty());
  std::string body;
  REQUIRE(destination.encode("crypto.candles", to_json(test::sample_candle("XRPETH", 1570752000000)), body).empty());
  const std::vector<sink::Slice> slices{{0, body.size()}};
  for (int i = 0; i < 2; ++i) {
    const auto out = destination.write(body, slices);
    REQUIRE(out.items.size() == 1);
    CHECK(out.items[0].disposition == sink::Disposition::written);
  }
  HttpClient http;
  http.post(std::string(url) + "/" + prefix + "-candles/_refresh", "");
  const auto count = http.get(std::string(url) + "/" + prefix + "-candles/_count");
  CHECK(count.body.find("\"count\":1") != std::string::npos);
  http.request("DELETE", std::string(url) + "/" + prefix + "-candles");
}
