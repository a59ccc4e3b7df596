// The gateway's books: BookStore (good only from a snapshot while the chain holds), Binance's
// /api/v3/depth and ticker/bookTicker shapes and errors, the book streams' names and payloads.
#include "gateway/src/books.hpp"

#include <catch2/catch.hpp>

#include "gateway/src/api.hpp"
#include "gateway/src/streams.hpp"

using namespace cryptoflow;
using namespace cryptoflow::gateway;

namespace {

Decimal d(const char* s) {
  return *Decimal::parse(s);
}

BookRecord record(BookRecord::Kind kind, const std::string& symbol, std::int64_t id, std::vector<PriceLevel> bids,
                  std::vector<PriceLevel> asks, std::int64_t previous = 0) {
  BookRecord r;
  r.kind = kind;
  r.source = "binance";
  r.symbol = symbol;
  r.id = id;
  r.previous_id = previous;
  r.first_id = previous + 1;
  r.depth = 1000;
  r.reason = "gap";
  r.bids = std::move(bids);
  r.asks = std::move(asks);
  return r;
}

struct Books {
  BookStore books;
  MarketStore store;
  Books() {
    std::vector<PriceLevel> bids, asks;
    for (int i = 0; i < 200; ++i) {
      bids.push_back({Decimal::from_units(10'000 - i, 2), d("1.00000000")});
      asks.push_back({Decimal::from_units(10'001 + i, 2), d("2.00000000")});
    }
    REQUIRE(books.apply(record(BookRecord::Kind::snapshot, "BTCUSDT", 50, bids, asks)) == BookStore::Change::good);
    REQUIRE(books.apply(record(BookRecord::Kind::snapshot, "ETHBTC", 7, {{d("0.05"), d("3")}}, {})) ==
            BookStore::Change::good);
  }
  Response get(const std::string& target) {
    const auto r = parse_target("GET", target);
    REQUIRE(r);
    ApiContext ctx{store, 1'700'000'000'000};
    ctx.books = &books;
    auto out = handle_api(*r, ctx);
    REQUIRE(out);
    return *out;
  }
};

}  // namespace

TEST_CASE("books: /api/v3/depth - Binance's shape, every limit it accepts, its errors") {
  Books b;
  auto r = b.get("/binance/api/v3/depth?symbol=BTCUSDT&limit=5");
  CHECK(r.status == 200);
  CHECK(r.body ==
        R"({"lastUpdateId":50,"bids":[["100.00","1.00000000"],["99.99","1.00000000"],["99.98","1.00000000"],)"
        R"(["99.97","1.00000000"],["99.96","1.00000000"]],"asks":[["100.01","2.00000000"],["100.02","2.00000000"],)"
        R"(["100.03","2.00000000"],["100.04","2.00000000"],["100.05","2.00000000"]]})");
  const auto levels = [&](const std::string& q) {
    const auto body = b.get("/binance/api/v3/depth?symbol=BTCUSDT" + q).body;
    return std::count(body.begin(), body.end(), '[') - 2;  // two per side's array, one per level
  };
  CHECK(levels("") == 2 * 100);  // default 100 a side
  for (const int limit : {1, 5, 10, 20, 50, 100}) CHECK(levels("&limit=" + std::to_string(limit)) == 2 * limit);
  CHECK(levels("&limit=500") == 2 * 200);    // all it holds
  CHECK(levels("&limit=99999") == 2 * 200);  // cut to 5000, as Binance does
  CHECK(b.get("/binance/api/v3/depth?symbol=btcusdt&limit=1").status == 200);
  CHECK(b.get("/binance/api/v3/depth?symbol=BTCUSDT&limit=0").body.find("-1100") != std::string::npos);
  CHECK(b.get("/binance/api/v3/depth?symbol=BTCUSDT&limit=x").status == 400);
  CHECK(b.get("/binance/api/v3/depth").body.find("-1102") != std::string::npos);
  CHECK(b.get("/binance/api/v3/depth?symbol=NOPE").body == R"({"code":-1121,"msg":"Invalid symbol."})");
  // Out of sync: not served until the next snapshot.
  CHECK(b.books.apply(record(BookRecord::Kind::update, "BTCUSDT", 60, {}, {}, 55)) == BookStore::Change::not_good);
  r = b.get("/binance/api/v3/depth?symbol=BTCUSDT");
  CHECK(r.status == 503);
  CHECK(r.body.find("-1001") != std::string::npos);
  CHECK(b.books.apply(record(BookRecord::Kind::update, "BTCUSDT", 61, {}, {}, 60)) == BookStore::Change::none);
  CHECK(b.books.apply(record(BookRecord::Kind::snapshot, "BTCUSDT", 61, {{d("1"), d("1")}}, {})) ==
        BookStore::Change::good);
  CHECK(b.get("/binance/api/v3/depth?symbol=BTCUSDT").body == R"({"lastUpdateId":61,"bids":[["1","1"]],"asks":[]})");
}

TEST_CASE("books: /api/v3/ticker/bookTicker - one, several, all") {
  Books b;
  CHECK(b.get("/binance/api/v3/ticker/bookTicker?symbol=BTCUSDT").body ==
        R"({"symbol":"BTCUSDT","bidPrice":"100.00","bidQty":"1.00000000","askPrice":"100.01","askQty":"2.00000000"})");
  const auto all = b.get("/binance/api/v3/ticker/bookTicker").body;
  CHECK(all == b.get(R"(/binance/api/v3/ticker/bookTicker?symbols=["BTCUSDT","ETHBTC"])").body);
  CHECK(
      all.find(R"({"symbol":"ETHBTC","bidPrice":"0.05","bidQty":"3","askPrice":"0.00000000","askQty":"0.00000000"})") !=
      std::string::npos);
  CHECK(all.front() == '[');
  CHECK(b.get("/binance/api/v3/ticker/bookTicker?symbol=NOPE").body.find("-1121") != std::string::npos);
  CHECK(b.get("/binance/api/v3/ticker/bookTicker?symbols=BTCUSDT").status == 400);
}

TEST_CASE("books: a store refuses a new symbol past its bound - an update before any snapshot changes nothing") {
  BookStore s(1);
  CHECK(s.apply(record(BookRecord::Kind::update, "A", 2, {}, {}, 1)) == BookStore::Change::none);
  CHECK(s.apply(record(BookRecord::Kind::snapshot, "B", 2, {}, {})) == BookStore::Change::refused);
  CHECK_FALSE(s.view("A", 5));
  CHECK(s.apply(record(BookRecord::Kind::resync, "A", 2, {}, {})) == BookStore::Change::none);
  CHECK(s.symbols().empty());
}

TEST_CASE("books: the book streams' names and payloads are Binance's") {
  const auto p = parse_stream("btcusdt@depth@100ms");
  REQUIRE(p.stream);
  CHECK(p.stream->kind == StreamKind::depth);
  CHECK(p.stream->levels == 0);
  CHECK(p.stream->fast);
  CHECK(parse_stream("btcusdt@depth").stream->fast == false);
  CHECK(parse_stream("btcusdt@depth20@100ms").stream->levels == 20);
  CHECK(parse_stream("btcusdt@depth5").stream->levels == 5);
  CHECK(parse_stream("btcusdt@bookTicker").stream->kind == StreamKind::book_ticker);
  CHECK_FALSE(parse_stream("btcusdt@depth7").stream);
  CHECK_FALSE(parse_stream("btcusdt@depth@250ms").stream);
  const auto u =
      record(BookRecord::Kind::update, "BTCUSDT", 160, {{d("0.0024"), d("10")}}, {{d("0.0026"), d("100")}}, 156);
  CHECK(
      binance_depth_event(u, 123456789) ==
      R"({"e":"depthUpdate","E":123456789,"s":"BTCUSDT","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]})");
  const BookView v{160, {{d("0.0024"), d("10")}}, {{d("0.0026"), d("100")}}};
  CHECK(binance_partial_depth_event(v) == R"({"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]})");
  CHECK(binance_book_ticker_event("BNBUSDT", v) ==
        R"({"u":160,"s":"BNBUSDT","b":"0.0024","B":"10","a":"0.0026","A":"100"})");
}
