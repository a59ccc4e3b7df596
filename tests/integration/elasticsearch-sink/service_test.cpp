// elasticsearch-sink's run() under its service host, with /readyz polled from another thread the
// whole time: while the templates are retried, while it sinks, and as it stops. The admin
// thread once read a plain BatchSink* that the main thread set and cleared (a data race, and a
// use after free at shutdown): readiness is now a registration that goes before the sink does,
// and this test is what ThreadSanitizer and AddressSanitizer run to keep it so.
#include "elasticsearch-sink/src/service.hpp"

#include <catch2/catch.hpp>
#include <thread>

#include "cryptoflow/net/http.hpp"
#include "embedded_broker.hpp"
#include "fake_elasticsearch.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace std::chrono_literals;

TEST_CASE("run() with /readyz polled throughout: not ready without templates - ready while sinking - stops cleanly") {
  DevBroker broker({1, 0, 1}, {"crypto.candles", "crypto.indicators", "crypto.tickers", "crypto.dead-letter"});
  test::FakeElasticsearch es;
  for (int cycle = 0; cycle < 3; ++cycle) {
    INFO("cycle " << cycle);
    es.down = cycle == 0;  // the first start waits for Elasticsearch and is stopped meanwhile
    const int port = test::free_port();
    const Config config(elastic::service_info().vars, {{"KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers()},
                                                       {"KAFKA_SESSION_TIMEOUT_MS", "6000"},
                                                       {"KAFKA_HEARTBEAT_INTERVAL_MS", "500"},
                                                       {"ADMIN_PORT", std::to_string(port)},
                                                       {"ES_URL", es.url()},
                                                       {"ES_FLUSH_INTERVAL_MS", "50"}});
    const auto options = elastic::parse(config);
    ServiceHost host(config);
    std::atomic<bool> probing{true};
    std::atomic<int> ready_answers{0}, unready_answers{0};
    std::thread prober([&] {
      HttpClient http;
      const auto url = "http://127.0.0.1:" + std::to_string(port) + "/readyz";
      while (probing) (http.get(url).status == 200 ? ready_answers : unready_answers)++;
    });
    int code = -1;
    std::thread service([&] { code = elastic::run(options, host); });
    if (cycle == 0) {
      REQUIRE(test::eventually([&] { return unready_answers > 10; }, 30s));
      CHECK(ready_answers == 0);  // no templates: never ready
    } else {
      REQUIRE(test::eventually([&] { return ready_answers > 10; }, 60s));
    }
    host.request_stop();
    service.join();
    probing = false;
    prober.join();
    CHECK(code == 0);
  }
  CHECK(es.templates().size() == 3);
}
