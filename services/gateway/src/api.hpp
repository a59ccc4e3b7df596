#pragma once
// The gateway's REST API as plain functions: a parsed request and the store in, a response out.
// No sockets here (http_session.cpp does HTTP, routes.cpp names each path); every shape is unit
// tested.
//   /binance/api/v3/...    Binance's spot REST shapes (klines, uiKlines, ticker/price,
//                          ticker/24hr, ping, time, exchangeInfo) and Binance's error objects
//   /coingecko/api/v3/...  CoinGecko's simple/price and coins/markets
//   /v1/...                the native API: decimals as strings, errors {"error":{...}}
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "books.hpp"
#include "store.hpp"
#include "trades.hpp"

namespace cryptoflow::gateway {

struct Request {
  std::string method = "GET";
  std::string path;                          // without the query, percent-decoded
  std::map<std::string, std::string> query;  // decoded
  std::string duplicate;                     // a parameter named twice (the first such): refused
  std::vector<std::string> params;           // the route's "{}" segments (routes.hpp)
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// Splits "path?query" and decodes both; nullopt for a bad %-escape or a NUL.
std::optional<Request> parse_target(std::string_view method, std::string_view target);
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

class CandleHistory;

struct ApiContext {
  const MarketStore& store;
  std::int64_t now_ms = 0;
  bool history_enabled = false;        // INFLUX_URL is set: older candle ranges exist there
  CandleHistory* history = nullptr;    // set on the history worker (a route that runs there)
  const TradeStore* trades = nullptr;  // none: no trade is served
  const BookStore* books = nullptr;    // none: no book is served
};

// The candles q asks for: the store's, preceded by older ones from ctx.history where the store
// does not reach back that far. When the history fails, or is needed and ctx has none (the
// store moved on after the call was placed), the store's candles and a Warning header.
std::vector<Candle> query_candles(const CandleQuery& q, const ApiContext& ctx, Response& response);
// q reaches before what the store holds, and INFLUX_URL may hold it: the call must run where the
// history may be waited for (Runs::history).
bool reaches_history(const CandleQuery& q, const ApiContext& ctx);

// Binance's rule for a page of candles (ascending): with a start the first q.limit, otherwise the last.
void keep_limit(std::vector<Candle>& candles, const CandleQuery& q);
// Candles of any Binance interval in Binance's windows (timeZone's offset): the store's own
// series where it holds them so aligned, otherwise rolled up from a finer one (rollup.hpp).
// The source is the query on the series read: q itself, or the finer one's.
struct CandleSource {
  CandleQuery query;
  bool roll_up = false;
};
std::optional<CandleSource> binance_source(const CandleQuery& q, std::int64_t offset_ms, const MarketStore& store);
std::vector<Candle> binance_candles(const CandleQuery& q, std::int64_t offset_ms, const ApiContext& ctx,
                                    Response& response);

// The answer for a call (routes.hpp), on the calling thread whatever the route's Runs; nullopt
// when the path is no call (static files, a stream, the topic browser).
std::optional<Response> handle_api(const Request& request, const ApiContext& context);

// Binance's kline array [open time, "o", "h", "l", "c", "v", close time, "q", n, "V", "Q", "0"]
// and its WebSocket kline event {"e":"kline",...,"k":{...}}.
std::string binance_kline_array(const Candle& c);
std::string binance_kline_event(const Candle& c, std::int64_t event_time_ms);
// Binance's aggregate trade {"a":..,"p":..,"q":..,"f":..,"l":..,"T":..,"m":..,"M":true}; the
// @trade / @aggTrade stream events; the @ticker / @miniTicker events (the rolling 24 h); the
// @avgPrice event (nothing when no trade is held).
std::string binance_agg_trade(const HeldTrade& a);
std::string binance_trade_event(const std::string& symbol, const HeldTrade& t, bool aggregate,
                                std::int64_t event_time_ms);
std::string binance_ticker_event(const std::string& symbol, bool mini, const ApiContext& ctx);
std::optional<std::string> binance_avg_price_event(const std::string& symbol, const ApiContext& ctx);
// Binance's book streams: a diff event of <symbol>@depth[@100ms] {"e":"depthUpdate",...}, a
// partial book of <symbol>@depth<N>[@100ms] {"lastUpdateId":..,"bids":..,"asks":..}, and a
// <symbol>@bookTicker event {"u":..,"s":..,"b":..,"B":..,"a":..,"A":..}.
std::string binance_depth_event(const BookRecord& update, std::int64_t event_time_ms);
std::string binance_partial_depth_event(const BookView& view);
std::string binance_book_ticker_event(const std::string& symbol, const BookView& view);
// "<symbol lower case>@kline_<interval>", the Binance stream a candle belongs to.
std::string binance_stream_name(const Candle& c);

// A native error body: {"error":{"status":400,"message":"...","parameter":"limit"}}.
Response native_error(int status, std::string_view message, std::string_view parameter = {});
// Binance's error body: {"code":-1100,"msg":"..."}.
Response binance_error(int status, int code, std::string_view msg);
// The text with every byte that is not part of valid UTF-8 replaced by U+FFFD, and control
// characters dropped: what a client sent, fit to be echoed in an answer.
std::string printable(std::string_view text);

}  // namespace cryptoflow::gateway
