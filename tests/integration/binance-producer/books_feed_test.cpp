// binance-producer's order books through the live feed and the embedded broker: the fake exchange
// serves a recording (spot BINANCE.ws.1.0, or USD-M futures BINANCE_FUTURES.ws.1.0 on their own
// paths) and REST snapshots computed from it; a reader of crypto.books rebuilds every book, and
// each good one must equal the reference (depth_recording.hpp) at its update id - through Kafka
// going away for longer than the message timeout, and through a connection cut mid-stream.
#include <catch2/catch.hpp>
#include <thread>

#include "binance-producer/src/live_feed.hpp"
#include "binance-producer/src/service.hpp"
#include "cryptoflow/messages/book.hpp"
#include "cryptoflow/net/http.hpp"
#include "depth_recording.hpp"
#include "dev-broker/src/dev_broker.hpp"
#include "embedded_broker.hpp"
#include "fake_exchange.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kDepth = 1000;

// What a reader of crypto.books saw.
struct TopicBooks {
  std::map<std::string, BookReader> readers;
  std::size_t records = 0, good_checked = 0, mismatched = 0;
  std::map<std::string, int> resyncs;  // by reason
};

struct BooksRun {
  DevBroker broker{{1, 0, 2}, {"crypto.trades", "crypto.books"}};
  MetricsRegistry metrics;
  // As the service makes it, from a 1.5 s message timeout: the timeout the outage outlasts.
  kafka::KafkaProducer producer{binance::producer_properties(props_for(broker).set("message.timeout.ms", "1500")),
                                metrics};
  binance::Publisher publisher{producer, "crypto.trades", metrics, "crypto.books"};
  HttpClient http;
  std::unique_ptr<binance::LiveFeed> feed;
  std::atomic<bool> stop{false};
  std::thread thread;

  explicit BooksRun(binance::LiveOptions o) {
    feed = std::make_unique<binance::LiveFeed>(o, publisher, metrics, binance::rest_over(http));
    thread = std::thread([this] { feed->run([this] { return stop.load(); }); });
  }
  ~BooksRun() {
    stop = true;
    thread.join();
  }
  double metric(const char* name) { return metrics.value(name); }

  // Reads crypto.books until every book is good at its reference's last id (or 60 s passed).
  TopicBooks read(const std::map<std::string, std::vector<RefBook>>& ref) {
    std::map<std::string, std::map<std::int64_t, const RefBook*>> by_id;
    for (const auto& [symbol, states] : ref)
      for (const auto& s : states) by_id[symbol][s.id] = &s;
    TopicBooks t;
    kafka::KafkaConsumer c(props_for(broker), "books-reader", {"crypto.books"});
    eventually(
        [&] {
          while (auto m = c.poll(20ms)) {
            const auto d = decode_book_record(m->value);
            REQUIRE(d);
            ++t.records;
            if (d.value->kind == BookRecord::Kind::resync) ++t.resyncs[d.value->reason];
            auto& reader = t.readers[d.value->symbol];
            reader.apply(*d.value);
            if (!reader.good()) continue;
            ++t.good_checked;
            const auto it = by_id[d.value->symbol].find(reader.id());
            if (it == by_id[d.value->symbol].end() || !same_book(reader.book(), *it->second)) ++t.mismatched;
          }
          return std::all_of(ref.begin(), ref.end(), [&](const auto& r) {
            return t.readers[r.first].good() && t.readers[r.first].id() == r.second.back().id;
          });
        },
        60s, 0ms);
    return t;
  }
};

void check_final(TopicBooks& t, const std::map<std::string, std::vector<RefBook>>& ref) {
  CHECK(t.mismatched == 0);
  for (const auto& [symbol, states] : ref) {
    INFO(symbol);
    CHECK(t.readers[symbol].good());
    CHECK(t.readers[symbol].id() == states.back().id);
    CHECK(same_book(t.readers[symbol].book(), states.back()));
  }
}

}  // namespace

TEST_CASE("books: Kafka away for longer than the message timeout - no update lost, every good book the reference's",
          "[long]") {
  const auto rec = load_depth_recording("BINANCE");
  const auto ref = reference_books(rec, kDepth);
  const auto served = served_depth("BINANCE", rec, ref, kDepth);
  FakeExchangeOptions fo;
  fo.frames = served.frames;
  fo.frames_per_second = 25;  // ~11 s of frames: the outage falls inside them
  fo.depth = served.snapshot_now;
  FakeExchange ex(fo);
  binance::LiveOptions o;
  o.urls = binance::stream_urls(ex.ws_url(), std::vector<std::string>{"nknusdt", "blzeth", "lrcbtc", "runeeur"},
                                std::vector<std::string>{"aggTrade", "depth@100ms"});
  o.rest_base = ex.rest_url();
  o.agg = true;
  o.reconnect_min = 100ms;
  o.depth = binance::DepthOptions{};
  BooksRun run(o);
  REQUIRE(eventually([&] { return run.metric("cryptoflow_binance_book_updates_total") >= 10; }, 30s));
  run.broker.cluster().set_broker_down(1, true);
  std::this_thread::sleep_for(5s);  // more than three times the 1.5 s message timeout
  const auto during = run.metric("cryptoflow_binance_book_updates_total");
  run.broker.cluster().set_broker_down(1, false);
  REQUIRE(eventually([&] { return ex.finished(); }, 60s));
  auto t = run.read(ref);
  INFO("records " << t.records << ", good states checked " << t.good_checked << ", updates during the outage "
                  << during);
  check_final(t, ref);
  CHECK(t.good_checked > 150);
  // The outage cost no record: the only resyncs are the four books' start, none for a gap.
  CHECK(t.resyncs == std::map<std::string, int>{{"start", 4}});
  CHECK(run.metric("cryptoflow_kafka_delivery_errors_total") == 0);
}

TEST_CASE("books: USD-M futures (BINANCE_MARKET=usdm) - /fapi/v1 snapshots, pu chaining, a cut connection") {
  const auto rec = load_depth_recording("BINANCE_FUTURES");
  const auto ref = reference_books(rec, kDepth);
  const auto served = served_depth("BINANCE_FUTURES", rec, ref, kDepth);
  FakeExchangeOptions fo;
  fo.frames = served.frames;
  fo.frames_per_second = 200;
  fo.drop_after = fo.frames.size() / 2;  // the connection dies halfway: every book resyncs
  fo.rest_api = "/fapi/v1";              // spot's /api/v3 is a 404 here
  fo.depth = served.snapshot_now;
  FakeExchange ex(fo);
  // The options as the service parses them.
  const auto options =
      binance::parse(Config(binance::service_info().vars, {{"BINANCE_MARKET", "usdm"},
                                                           {"BINANCE_STREAM", "aggTrade"},
                                                           {"BINANCE_SYMBOLS", "sushiusdt,akrousdt,keepusdt,ctkusdt"},
                                                           {"BINANCE_WS_URL", ex.ws_url()},
                                                           {"BINANCE_REST_URL", ex.rest_url()},
                                                           {"BINANCE_RECONNECT_MIN", "100ms"}}));
  REQUIRE(options.live);
  BooksRun run(*options.live);
  REQUIRE(eventually([&] { return ex.finished(); }, 60s));
  auto t = run.read(ref);
  INFO("records " << t.records << ", good states checked " << t.good_checked);
  check_final(t, ref);
  CHECK(t.good_checked > 300);
  CHECK(t.resyncs["start"] == 4);
  CHECK(t.resyncs["connection"] == 4);
  CHECK(t.resyncs["gap"] == 0);
  CHECK(run.metric("cryptoflow_binance_depth_snapshot_failures_total") == 0);
}
