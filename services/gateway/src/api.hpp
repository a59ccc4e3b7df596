#pragma once
// The gateway's REST API as plain functions: a parsed request and the store in, a response out.
// No sockets here (server.cpp does HTTP); every shape is unit tested.
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
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // The answer needs candles older than the store holds: ask again with ApiContext::history, on
  // a thread that may block (server.cpp's history worker).
  bool needs_history = false;
};

// Splits "path?query" and decodes both; nullopt for a bad %-escape or a NUL.
std::optional<Request> parse_target(std::string_view method, std::string_view target);
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

class CandleHistory;

struct ApiContext {
  const MarketStore& store;
  std::int64_t now_ms = 0;
  bool history_enabled = false;        // INFLUX_URL is set: older candle ranges exist there
  CandleHistory* history = nullptr;    // set on the history worker; none: answer needs_history
  const TradeStore* trades = nullptr;  // none: no trade is served
  const BookStore* books = nullptr;    // none: no book is served
};

// The candles q asks for: the store's, preceded by older ones from ctx.history where the store
// does not reach back that far. Nothing: the history is needed and ctx has none. When the
// history fails, the store's candles, and a Warning header on response.
std::optional<std::vector<Candle>> query_candles(const CandleQuery& q, const ApiContext& ctx, Response& response);

// Binance's rule for a page of candles (ascending): with a start the first q.limit, otherwise the last.
void keep_limit(std::vector<Candle>& candles, const CandleQuery& q);
// Candles of any Binance interval in Binance's windows (timeZone's offset): the store's own
// series where it holds them so aligned, otherwise rolled up from a finer one (rollup.hpp).
std::optional<std::vector<Candle>> binance_candles(const CandleQuery& q, std::int64_t offset_ms, const ApiContext& ctx,
                                                   Response& response);

// The answer for an API path, or nullopt when the path is not one (static files, 404 elsewhere).
std::optional<Response> handle_api(const Request& request, const ApiContext& context);

// The pieces, for the tests and for the WebSocket streams.
Response binance_api(const Request& request, std::string_view path, const ApiContext& context);
Response coingecko_api(const Request& request, std::string_view path, const ApiContext& context);
Response native_api(const Request& request, std::string_view path, const ApiContext& context);

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
