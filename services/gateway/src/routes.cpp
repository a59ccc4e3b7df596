#include "routes.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>

#include "api_detail.hpp"
#include "handlers.hpp"

namespace cryptoflow::gateway {

namespace {

// ---- Binance's REQUEST_WEIGHT per call (its spot API documentation) ----

std::size_t symbol_count(const Request& r) {
  const auto it = r.query.find("symbols");
  if (it == r.query.end()) return 0;
  // ["BTCUSDT","ETHUSDT"]: one more symbol than commas
  return static_cast<std::size_t>(std::count(it->second.begin(), it->second.end(), ',')) + 1;
}
template <int N>
int fixed(const Request&) {
  return N;
}
int one_or_all(const Request& r) {  // ticker/price, ticker/bookTicker
  return r.query.contains("symbol") ? 2 : 4;
}
int ticker_24hr_weight(const Request& r) {
  if (r.query.contains("symbol")) return 2;
  const auto n = symbol_count(r);
  if (n == 0 || n > 100) return 80;
  return n <= 20 ? 2 : 40;
}
int ticker_weight(const Request& r) {  // ticker (windowSize), ticker/tradingDay: 4 a symbol, at most 200
  return static_cast<int>(std::min<std::size_t>(200, 4 * std::max<std::size_t>(1, symbol_count(r))));
}
int depth_weight(const Request& r) {
  const auto limit = detail::param(r, "limit");
  const auto n = limit.empty() ? 100 : std::atoll(limit.c_str());
  if (n <= 100) return 5;
  if (n <= 500) return 25;
  return n <= 1000 ? 50 : 250;
}

// ---- where a call runs ----

template <Runs R>
Runs always(const Request&, const ApiContext&) {
  return R;
}
Runs ticker_24hr_runs(const Request& r, const ApiContext&) {  // every symbol's: the cost grows with them
  return r.query.contains("symbol") ? Runs::io : Runs::heavy;
}

using D = Dialect;
using S = Session;

// clang-format off
constexpr std::array kRoutes{
  // Binance's spot REST API
  Route{"/binance/api/v3/klines",             D::binance, S::call, binance::klines,             fixed<2>,           binance::klines_runs},
  Route{"/binance/api/v3/uiKlines",           D::binance, S::call, binance::klines,             fixed<2>,           binance::klines_runs},
  Route{"/binance/api/v3/ticker/price",       D::binance, S::call, binance::ticker_price,       one_or_all},
  Route{"/binance/api/v3/ticker/24hr",        D::binance, S::call, binance::ticker_24hr,        ticker_24hr_weight, ticker_24hr_runs},
  Route{"/binance/api/v3/ticker",             D::binance, S::call, binance::ticker_rolling,     ticker_weight},
  Route{"/binance/api/v3/ticker/tradingDay",  D::binance, S::call, binance::ticker_trading_day, ticker_weight},
  Route{"/binance/api/v3/avgPrice",           D::binance, S::call, binance::avg_price,          fixed<2>},
  Route{"/binance/api/v3/trades",             D::binance, S::call, binance::trades,             fixed<25>},
  Route{"/binance/api/v3/historicalTrades",   D::binance, S::call, binance::historical_trades,  fixed<25>},
  Route{"/binance/api/v3/aggTrades",          D::binance, S::call, binance::agg_trades,         fixed<2>},
  Route{"/binance/api/v3/exchangeInfo",       D::binance, S::call, binance::exchange_info,      fixed<20>},
  Route{"/binance/api/v3/depth",              D::binance, S::call, binance::depth,              depth_weight},
  Route{"/binance/api/v3/ticker/bookTicker",  D::binance, S::call, binance::book_ticker,        one_or_all},
  Route{"/binance/api/v3/ping",               D::binance, S::call, binance::ping},
  Route{"/binance/api/v3/time",               D::binance, S::call, binance::time},
  // Binance's WebSocket streams (binance_ws.hpp)
  Route{"/binance/ws",                        D::binance, S::binance_ws},
  Route{"/binance/ws/*",                      D::binance, S::binance_ws},
  Route{"/binance/stream",                    D::binance, S::binance_stream},
  // CoinGecko's API v3
  Route{"/coingecko/api/v3/simple/price",                      D::coingecko, S::call, coingecko::simple_price},
  Route{"/coingecko/api/v3/simple/supported_vs_currencies",    D::coingecko, S::call, coingecko::supported_vs_currencies},
  Route{"/coingecko/api/v3/coins/markets",                     D::coingecko, S::call, coingecko::coins_markets},
  Route{"/coingecko/api/v3/coins/list",                        D::coingecko, S::call, coingecko::coins_list},
  Route{"/coingecko/api/v3/coins/{}/market_chart",             D::coingecko, S::call, coingecko::market_chart},
  Route{"/coingecko/api/v3/coins/{}/market_chart/range",       D::coingecko, S::call, coingecko::market_chart_range},
  Route{"/coingecko/api/v3/coins/{}/ohlc",                     D::coingecko, S::call, coingecko::ohlc},
  Route{"/coingecko/api/v3/ping",                              D::coingecko, S::call, coingecko::ping},
  // the native API and its streams
  Route{"/v1/symbols",     D::native, S::call, native::symbols},
  Route{"/v1/candles",     D::native, S::call, native::candles, nullptr, native::candles_runs},
  Route{"/v1/indicators",  D::native, S::call, native::indicators},
  Route{"/v1/tickers",     D::native, S::call, native::tickers},
  Route{"/v1/pipeline",    D::native, S::call, native::pipeline},
  Route{"/v1/stream",      D::native, S::sse},
  Route{"/v1/ws",          D::native, S::native_ws},
  // the topic browser (browser.hpp): answered by its own worker
  Route{"/v1/topics",      D::native, S::call, nullptr, nullptr, always<Runs::browser>},
  Route{"/v1/topics/*",    D::native, S::call, nullptr, nullptr, always<Runs::browser>},
  Route{"/v1/groups",      D::native, S::call, nullptr, nullptr, always<Runs::browser>},
  Route{"/v1/groups/*",    D::native, S::call, nullptr, nullptr, always<Runs::browser>},
};
// clang-format on

// The path matches the pattern; the "{}" segments' values are appended to params.
bool matches(std::string_view pattern, std::string_view path, std::vector<std::string>& params) {
  while (true) {
    const auto brace = pattern.find("{}");
    if (brace == std::string_view::npos) {
      if (pattern.ends_with("*")) return path.starts_with(pattern.substr(0, pattern.size() - 1));
      return pattern == path;
    }
    if (path.substr(0, brace) != pattern.substr(0, brace)) return false;
    path.remove_prefix(brace);
    const auto segment = path.substr(0, path.find('/'));
    if (segment.empty()) return false;
    params.emplace_back(segment);
    path.remove_prefix(segment.size());
    pattern.remove_prefix(brace + 2);
  }
}

}  // namespace

std::span<const Route> routes() {
  return kRoutes;
}

std::optional<RouteMatch> match_route(std::string_view path) {
  RouteMatch m;
  for (const auto& r : kRoutes) {
    m.params.clear();
    if (matches(r.pattern, path, m.params)) {
      m.route = &r;
      return m;
    }
  }
  return std::nullopt;
}

std::optional<Dialect> dialect_of(std::string_view path) {
  const auto under = [&](std::string_view prefix) {
    return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
  };
  if (under("/binance")) return Dialect::binance;
  if (under("/coingecko")) return Dialect::coingecko;
  if (under("/v1")) return Dialect::native;
  return std::nullopt;
}

Runs runs_on(const Route& route, const Request& request, const ApiContext& context) {
  return route.runs == nullptr ? Runs::io : route.runs(request, context);
}

int route_weight(const Route& route, const Request& request) {
  return route.weight == nullptr ? 1 : route.weight(request);
}

Response not_found(Dialect d, std::string_view path) {
  switch (d) {
    case Dialect::binance:
      return binance_error(404, -1000, "Not served by cryptoflow's gateway: " + std::string(path.substr(8)));
    case Dialect::coingecko: return coingecko::not_found(path.substr(10));
    case Dialect::native: break;
  }
  return native_error(404, "no such endpoint: " + std::string(path));
}

Response duplicate_parameter(Dialect d, const std::string& name) {
  if (d == Dialect::binance) return binance_error(400, -1101, "Duplicate values for a parameter detected.");
  return native_error(400, "parameter '" + name + "' given more than once", name);
}

}  // namespace cryptoflow::gateway
