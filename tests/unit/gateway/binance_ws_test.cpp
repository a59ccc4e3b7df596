// Binance's WebSocket protocol without a socket: the URL's streams, SUBSCRIBE / UNSUBSCRIBE /
// LIST_SUBSCRIPTIONS, the "combined" property, Binance's error codes, and the server told which
// streams the connection wants (and no longer wants when it goes).
#include "gateway/src/binance_ws.hpp"

#include <catch2/catch.hpp>
#include <map>

using namespace cryptoflow::gateway;

TEST_CASE("binance ws: the URL's streams - control characters refused - at most the subscription limit") {
  CHECK(std::get<0>(url_streams("btcusdt@trade/xrpeth@kline_1m", 10)) ==
        std::vector<std::string>{"btcusdt@trade", "xrpeth@kline_1m"});
  CHECK(std::get<0>(url_streams("0", 10)) == std::vector<std::string>{"0"});  // ccxt's /ws/0: taken, sends nothing
  CHECK(std::get<0>(url_streams("", 10)).empty());
  CHECK(std::get<1>(url_streams("a b", 10)) == "a stream name is printable ASCII");
  CHECK(std::get<1>(url_streams("a\x01", 10)) == "a stream name is printable ASCII");
  CHECK(std::get<1>(url_streams("a/b/c", 2)) == "more than 2 streams");
}

TEST_CASE("binance ws: SUBSCRIBE, LIST_SUBSCRIPTIONS, UNSUBSCRIBE - the server told what is wanted - errors") {
  std::map<std::string, int> wanted;
  {
    BinanceSubscriptions subs(3, false, [&](const std::string& n, bool on) { wanted[n] += on ? 1 : -1; });
    subs.add({"btcusdt@trade"});
    CHECK(subs.on_message(R"({"method":"SUBSCRIBE","params":["xrpeth@kline_1m","btcusdt@depth@100ms"],"id":1})") ==
          R"({"result":null,"id":1})");
    CHECK(subs.has("xrpeth@kline_1m"));
    CHECK(subs.on_message(R"({"method":"LIST_SUBSCRIPTIONS","id":"x"})") ==
          R"({"result":["btcusdt@depth@100ms","btcusdt@trade","xrpeth@kline_1m"],"id":"x"})");
    CHECK(subs.on_message(R"({"method":"SUBSCRIBE","params":["ethusdt@trade"],"id":2})") ==
          R"({"error":{"code":2,"msg":"Invalid request: more than 3 streams"},"id":2})");
    CHECK(subs.on_message(R"({"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":3})") ==
          R"({"result":null,"id":3})");
    CHECK_FALSE(subs.has("btcusdt@trade"));
    CHECK(wanted["btcusdt@trade"] == 0);
    CHECK(wanted["xrpeth@kline_1m"] == 1);

    CHECK(subs.on_message("not json") == R"({"error":{"code":3,"msg":"Invalid JSON"},"id":null})");
    CHECK(subs.on_message(R"({"method":"SUBSCRIBE","params":["nothing@here"],"id":4})")
              .starts_with(R"({"error":{"code":2,"msg":"Invalid request: )"));
    CHECK(subs.on_message(R"({"method":"SUBSCRIBE","params":"btcusdt@trade","id":5})") ==
          R"({"error":{"code":1,"msg":"Invalid value type: expected an array for 'params'"},"id":5})");
    CHECK(subs.on_message(R"({"method":"SUBSCRIBE","params":[],"id":{}})") ==
          R"({"error":{"code":1,"msg":"Invalid value type: expected an integer or a string for 'id'"},"id":null})");
    CHECK(subs.on_message(R"({"params":[],"id":6})") ==
          R"({"error":{"code":2,"msg":"Invalid request: 'method' missing"},"id":6})");
    CHECK(subs.on_message(R"({"method":"DELETE","id":7})") ==
          R"({"error":{"code":2,"msg":"Invalid request: unknown method DELETE"},"id":7})");
  }
  // The connection gone: nothing wanted any more.
  for (const auto& [name, n] : wanted) CHECK(n == 0);
}

TEST_CASE("binance ws: the combined property - payloads wrapped with their stream's name") {
  BinanceSubscriptions subs(10, false, [](const std::string&, bool) {});
  CHECK_FALSE(subs.combined());
  CHECK(subs.on_message(R"({"method":"GET_PROPERTY","params":["combined"],"id":1})") == R"({"result":false,"id":1})");
  CHECK(subs.on_message(R"({"method":"SET_PROPERTY","params":["combined",true],"id":2})") ==
        R"({"result":null,"id":2})");
  CHECK(subs.combined());
  CHECK(subs.on_message(R"({"method":"SET_PROPERTY","params":["combined","yes"],"id":3})") ==
        R"({"error":{"code":1,"msg":"Invalid value type: expected Boolean"},"id":3})");
  CHECK(subs.on_message(R"({"method":"GET_PROPERTY","params":["other"],"id":4})") ==
        R"({"error":{"code":0,"msg":"Unknown property"},"id":4})");
  CHECK(combined_frame("btcusdt@trade", R"({"e":"trade"})") == R"({"stream":"btcusdt@trade","data":{"e":"trade"}})");
}
