#pragma once
// The gateway's calls, one plain function each (a request and the stores in, an answer out);
// routes.cpp names the path of each. No sockets here: every shape is unit tested.
#include "api.hpp"
#include "routes.hpp"

namespace cryptoflow::gateway {

// Binance's spot REST API (binance_api.cpp): errors {"code":-11xx,"msg":"..."}.
namespace binance {
Response klines(const Request& r, const ApiContext& ctx);  // klines and uiKlines
Response ticker_price(const Request& r, const ApiContext& ctx);
Response ticker_24hr(const Request& r, const ApiContext& ctx);
Response ticker_rolling(const Request& r, const ApiContext& ctx);
Response ticker_trading_day(const Request& r, const ApiContext& ctx);
Response avg_price(const Request& r, const ApiContext& ctx);
Response trades(const Request& r, const ApiContext& ctx);
Response historical_trades(const Request& r, const ApiContext& ctx);
Response agg_trades(const Request& r, const ApiContext& ctx);
Response exchange_info(const Request& r, const ApiContext& ctx);
Response depth(const Request& r, const ApiContext& ctx);
Response book_ticker(const Request& r, const ApiContext& ctx);
Response ping(const Request& r, const ApiContext& ctx);
Response time(const Request& r, const ApiContext& ctx);
// The candle query klines asks for and the thread it needs: history when INFLUX_URL is set and
// the range reaches before what the store holds.
Runs klines_runs(const Request& r, const ApiContext& ctx);
}  // namespace binance

// CoinGecko's API v3 (coingecko_api.cpp); a coin's calls take its id from Request::params[0].
namespace coingecko {
Response simple_price(const Request& r, const ApiContext& ctx);
Response coins_markets(const Request& r, const ApiContext& ctx);
Response ping(const Request& r, const ApiContext& ctx);
Response supported_vs_currencies(const Request& r, const ApiContext& ctx);
Response coins_list(const Request& r, const ApiContext& ctx);
Response market_chart(const Request& r, const ApiContext& ctx);
Response market_chart_range(const Request& r, const ApiContext& ctx);
Response ohlc(const Request& r, const ApiContext& ctx);
Response not_found(std::string_view path);  // CoinGecko's 404 shape
}  // namespace coingecko

// The native API (native_api.cpp): decimals as strings, errors {"error":{...}}.
namespace native {
Response symbols(const Request& r, const ApiContext& ctx);
Response candles(const Request& r, const ApiContext& ctx);
Response indicators(const Request& r, const ApiContext& ctx);
Response tickers(const Request& r, const ApiContext& ctx);
Response pipeline(const Request& r, const ApiContext& ctx);
Runs candles_runs(const Request& r, const ApiContext& ctx);
}  // namespace native

}  // namespace cryptoflow::gateway
