// Order books end to end: the fake Binance serves the recorded spot depth stream (BINANCE.ws.1.0,
// four symbols) and, over REST, snapshots computed from the recording at the moment asked;
// binance-producer (live, BINANCE_DEPTH=100ms) writes crypto.books through dev-broker; the
// gateway serves the books. The producer is killed (-9) mid-stream and restarted, and its first
// snapshot call after the restart is answered 429 with Retry-After.
//
// Then: a reader of the topic rebuilds every book and, whenever its book is good, it equals the
// reference (depth_recording.hpp, built independently) at that update id; the gateway's
// /api/v3/depth and ticker/bookTicker equal the reference's final books; and a WebSocket client
// that follows Binance's own procedure against the gateway (buffer @depth@100ms, fetch
// /api/v3/depth, drop, chain, refetch on a gap) ends with the same book.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <map>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/messages/book.hpp"
#include "cryptoflow/net/http.hpp"
#include "depth_recording.hpp"
#include "fake_exchange.hpp"
#include "test_support.hpp"
#include "ws_test_client.hpp"

using namespace cryptoflow;
using namespace cryptoflow::test;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kDepth = 1000;

std::vector<PriceLevel> parse_levels(const rapidjson::Value& v) {
  std::vector<PriceLevel> out;
  for (const auto& l : v.GetArray())
    out.push_back({*Decimal::parse(l[0].GetString()), *Decimal::parse(l[1].GetString())});
  return out;
}

// A client of the gateway doing what Binance documents for its own API.
struct BinanceProcedureClient {
  std::string symbol;
  std::int64_t id = -1;  // -1: no snapshot in place
  bool first = true;
  RefBook book;
  struct Diff {
    std::int64_t U = 0, u = 0;
    std::vector<PriceLevel> bids, asks;
  };
  std::vector<Diff> buffered;
  int snapshots = 0, gaps = 0;

  void fetch(HttpClient& http, const std::string& url) {
    const auto r = http.get(url + "/binance/api/v3/depth?symbol=" + symbol + "&limit=1000");
    if (r.status != 200) return;  // resyncing: try again with the next event
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    book = RefBook{d["lastUpdateId"].GetInt64(), parse_levels(d["bids"]), parse_levels(d["asks"])};
    id = book.id;
    first = true;
    ++snapshots;
  }
  // An event of the stream; returns false on a gap (a snapshot is fetched again).
  bool apply(const Diff& e) {
    if (e.u <= id) return true;  // in the snapshot
    if (first ? e.U > id + 1 : e.U != id + 1) {
      ++gaps;
      id = -1;
      return false;
    }
    first = false;
    book.apply(e.bids, e.asks, kDepth);
    book.id = id = e.u;
    return true;
  }
  void on_event(const rapidjson::Value& e, HttpClient& http, const std::string& url) {
    buffered.push_back({e["U"].GetInt64(), e["u"].GetInt64(), parse_levels(e["b"]), parse_levels(e["a"])});
    if (id < 0) fetch(http, url);
    if (id < 0) return;
    std::vector<Diff> rest;
    for (auto& b : buffered) {
      if (id < 0) {
        rest.push_back(std::move(b));
        continue;
      }
      if (!apply(b)) rest.push_back(std::move(b));
    }
    buffered = std::move(rest);
  }
};

}  // namespace

TEST_CASE(
    "books: recorded depth through producer, topic and gateway - the reference book everywhere, kill -9 and 429 "
    "included") {
  const auto rec = load_depth_recording("BINANCE");
  const auto ref = reference_books(rec, kDepth);
  auto served = served_depth("BINANCE", rec, ref, kDepth);
  REQUIRE(served.frames.size() > 200);

  TempDir dir;
  const auto log = [&](const char* name) { return (dir.path() / name).string(); };
  Process broker({binary("dev-broker"), "--partitions", "2"}, {}, log("broker.log"));
  const auto bootstrap = broker.read_line(30s);
  REQUIRE(bootstrap.has_value());
  const int gateway_port = free_port(), gateway_admin = free_port();
  const std::map<std::string, std::string> common{
      {"KAFKA_BOOTSTRAP_SERVERS", *bootstrap}, {"KAFKA_FETCH_WAIT_MAX_MS", "5"}, {"LOG_FORMAT", "text"}};
  auto genv = common;
  genv.insert({{"ADMIN_PORT", std::to_string(gateway_admin)},
               {"GATEWAY_PORT", std::to_string(gateway_port)},
               {"GATEWAY_BIND", "127.0.0.1"},
               {"GATEWAY_RATE_LIMIT", "0"}});
  Process gateway({binary("gateway")}, genv, log("gateway.log"));
  HttpClient http;
  const auto url = "http://127.0.0.1:" + std::to_string(gateway_port);
  REQUIRE(eventually(
      [&] { return http.get("http://127.0.0.1:" + std::to_string(gateway_admin) + "/readyz").status == 200; }, 60s));
  CHECK(http.get(url + "/binance/api/v3/depth?symbol=NKNUSDT").status == 400);  // no book of it yet: -1121

  WsClient ws(gateway_port, "/binance/stream?streams=nknusdt@depth@100ms/lrcbtc@depth@100ms/nknusdt@bookTicker");
  ws.read_in_background();

  FakeExchangeOptions fo;
  fo.frames = served.frames;
  fo.frames_per_second = 12;  // ~22 s: time for a kill and a restart
  fo.depth = served.snapshot_now;
  fo.rest_status = 429;  // the first snapshot call: wait a second
  fo.rest_failures = 1;
  fo.rest_retry_after = "1";
  FakeExchange ex(fo);
  auto penv = common;
  penv.insert({{"ADMIN_PORT", "0"},
               {"BINANCE_SYMBOLS", "NKNUSDT,BLZETH,LRCBTC,RUNEEUR"},
               {"BINANCE_STREAM", "aggTrade"},
               {"BINANCE_DEPTH", "100ms"},
               {"BOOKS_SNAPSHOT_INTERVAL", "3s"},
               {"BINANCE_RESUME_LOOKBACK", "0"},
               {"BINANCE_RECONNECT_MIN", "200ms"},
               {"BINANCE_WS_URL", ex.ws_url()},
               {"BINANCE_REST_URL", ex.rest_url()}});
  {
    Process first({binary("binance-producer")}, penv, log("producer1.log"));
    REQUIRE(eventually([&] { return http.get(url + "/binance/api/v3/depth?symbol=NKNUSDT").status == 200; }, 30s));
    std::this_thread::sleep_for(2s);  // updates flow
    first.signal(SIGKILL);
    REQUIRE(first.wait(10s).has_value());
  }
  Process second({binary("binance-producer")}, penv, log("producer2.log"));

  // The client follows the stream while it runs.
  std::map<std::string, BinanceProcedureClient> clients;
  clients["NKNUSDT"].symbol = "NKNUSDT";
  clients["LRCBTC"].symbol = "LRCBTC";
  std::size_t seen = 0;
  std::vector<std::string> book_tickers;
  const auto follow = [&] {
    const auto messages = ws.messages();
    for (; seen < messages.size(); ++seen) {
      rapidjson::Document d;
      d.Parse(messages[seen].c_str());
      REQUIRE(d.IsObject());
      const std::string stream = d["stream"].GetString();
      if (stream == "nknusdt@bookTicker") {
        book_tickers.push_back(messages[seen]);
        continue;
      }
      const auto& data = d["data"];
      clients.at(data["s"].GetString()).on_event(data, http, url);
    }
  };
  const auto final_id = [&](const std::string& symbol) { return ref.at(symbol).back().id; };
  const bool done = eventually(
      [&] {
        follow();
        if (!ex.finished()) return false;
        for (const auto& [symbol, states] : ref) {
          const auto r = http.get(url + "/binance/api/v3/depth?symbol=" + symbol + "&limit=5000");
          if (r.status != 200 ||
              r.body.find("\"lastUpdateId\":" + std::to_string(states.back().id) + ",") == std::string::npos)
            return false;
        }
        return clients.at("NKNUSDT").id == final_id("NKNUSDT") && clients.at("LRCBTC").id == final_id("LRCBTC");
      },
      90s, 50ms);
  INFO("producer logs:\n"
       << read_file(log("producer1.log")) << "\n---\n"
       << read_file(log("producer2.log")) << "\ngateway:\n"
       << read_file(log("gateway.log")));
  REQUIRE(done);
  CHECK(read_file(log("producer1.log")).find("depth snapshot took several calls") != std::string::npos);  // the 429

  // The gateway's books: the reference's, level for level, at its last update id.
  for (const auto& [symbol, states] : ref) {
    INFO(symbol);
    const auto r = http.get(url + "/binance/api/v3/depth?symbol=" + symbol + "&limit=5000");
    REQUIRE(r.status == 200);
    CHECK(r.body == depth_answer(states.back(), kDepth));
    std::string lower = symbol;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const auto top = http.get(url + "/binance/api/v3/depth?symbol=" + lower + "&limit=5");
    CHECK(top.body == depth_answer(states.back(), 5));
  }
  const auto all = http.get(url + "/binance/api/v3/ticker/bookTicker");
  REQUIRE(all.status == 200);
  rapidjson::Document tickers;
  tickers.Parse(all.body.c_str());
  REQUIRE(tickers.IsArray());
  CHECK(tickers.Size() == ref.size());
  for (const auto& t : tickers.GetArray()) {
    const auto& b = ref.at(t["symbol"].GetString()).back();
    CHECK(t["bidPrice"].GetString() == b.bids.front().price.to_string());
    CHECK(t["bidQty"].GetString() == b.bids.front().quantity.to_string());
    CHECK(t["askPrice"].GetString() == b.asks.front().price.to_string());
    CHECK(t["askQty"].GetString() == b.asks.front().quantity.to_string());
  }
  // The clients following Binance's procedure have the same books; the restart was a gap they saw.
  for (const auto& [symbol, c] : clients) {
    INFO(symbol);
    CHECK(c.book == ref.at(symbol).back());
    CHECK(c.snapshots >= 1);
  }
  CHECK(!book_tickers.empty());

  // The topic, read from the start: never a wrong book presented as good.
  kafka::Properties p;
  p.set("bootstrap.servers", *bootstrap).set("fetch.wait.max.ms", "5");
  kafka::KafkaConsumer consumer(p, "books-reader", {"crypto.books"});
  std::map<std::string, BookReader> readers;
  std::map<std::string, std::map<std::int64_t, const RefBook*>> by_id;
  for (const auto& [symbol, states] : ref)
    for (const auto& s : states) by_id[symbol][s.id] = &s;
  std::size_t records = 0, good_checked = 0, mismatched = 0, resyncs = 0;
  eventually(
      [&] {
        while (auto m = consumer.poll(20ms)) {
          const auto d = decode_book_record(m->value);
          REQUIRE(d);
          ++records;
          auto& reader = readers[d.value->symbol];
          if (reader.apply(*d.value) == BookReader::Result::resync) ++resyncs;
          if (!reader.good()) continue;
          ++good_checked;
          const auto it = by_id[d.value->symbol].find(reader.id());
          if (it == by_id[d.value->symbol].end() || !same_book(reader.book(), *it->second)) ++mismatched;
        }
        return std::all_of(ref.begin(), ref.end(), [&](const auto& r) {
          return readers[r.first].good() && readers[r.first].id() == r.second.back().id;
        });
      },
      30s, 0ms);
  CHECK(mismatched == 0);
  CHECK(good_checked > 150);
  CHECK(resyncs >= 8);  // each of the two starts marks the four books
  // The worked example of docs/order-books.md (docs/examples/book_reader.cpp) reads the same book.
  const auto& nkn = ref.at("NKNUSDT").back();
  Process example({binary("book_reader"), "NKNUSDT"}, {{"KAFKA_BOOTSTRAP_SERVERS", *bootstrap}}, log("example.log"));
  const auto printed = example.read_all(60s);
  CHECK(example.wait(10s) == 0);
  CHECK(printed == "NKNUSDT " + std::to_string(nkn.id) + " good " + nkn.bids.front().price.to_string() + " " +
                       nkn.bids.front().quantity.to_string() + " " + nkn.asks.front().price.to_string() + " " +
                       nkn.asks.front().quantity.to_string() + "\n");
  for (const auto& [symbol, states] : ref) {
    CHECK(readers[symbol].good());
    CHECK(same_book(readers[symbol].book(), states.back()));
  }
  CHECK(second.terminate() == 0);
  CHECK(gateway.terminate() == 0);
}
