// Binance's spot REST shapes (https://developers.binance.com/docs/binance-spot-api-docs/rest-api),
// served from the candles cryptoflow computed. Errors are Binance's {"code":-11xx,"msg":"..."}.
#include <algorithm>
#include <array>

#include "api.hpp"
#include "api_detail.hpp"

namespace cryptoflow::gateway {
namespace {

using detail::Writer;

constexpr std::size_t kDefaultLimit = 500;  // Binance's default and maximum for klines
constexpr std::int64_t kMaxLimit = 1000;

Response error(int status, int code, std::string_view msg) {
  return binance_error(status, code, msg);
}

Response bad_parameter(const std::string& name) {
  return error(400, -1100, "Illegal characters found in parameter '" + name + "'; legal range is '^[0-9]{1,20}$'.");
}

Response mandatory(const std::string& name) {
  return error(400, -1102, "Mandatory parameter '" + name + "' was not sent, was empty/null, or malformed.");
}

Response invalid_symbol() {
  return error(400, -1121, "Invalid symbol.");
}

Response ok(const rapidjson::StringBuffer& b) {
  return {200, detail::text(b)};
}

// "XRPETH" -> {"XRP", "ETH"}: the longest quote asset Binance lists that ends the symbol.
std::pair<std::string, std::string> split_symbol(const std::string& symbol) {
  static constexpr std::array<std::string_view, 24> quotes{
      "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DAI", "BTC", "ETH", "BNB", "XRP", "TRX",
      "EUR",   "GBP",  "TRY",  "BRL",  "AUD",  "JPY",  "RUB", "UAH", "ZAR", "IDR", "ARS", "PLN"};
  std::string_view best;
  for (const auto q : quotes)
    if (symbol.size() > q.size() && symbol.ends_with(q) && q.size() > best.size()) best = q;
  if (best.empty()) return {symbol, ""};
  return {symbol.substr(0, symbol.size() - best.size()), std::string(best)};
}

// symbols=["BTCUSDT","BNBBTC"] (Binance's JSON array in a query parameter); nullopt if malformed.
std::optional<std::vector<std::string>> symbol_list(const std::string& text) {
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') return std::nullopt;
  std::vector<std::string> out;
  for (auto item : detail::csv(std::string_view(text).substr(1, text.size() - 2))) {
    if (item.size() < 3 || item.front() != '"' || item.back() != '"') return std::nullopt;
    out.push_back(detail::upper(std::string_view(item).substr(1, item.size() - 2)));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// The symbols a request names (symbol= or symbols=[...]), all held ones when it names none.
struct Symbols {
  std::vector<std::string> list;
  std::optional<Response> error;
  bool single = false;
};
Symbols requested_symbols(const Request& r, const MarketStore& store) {
  Symbols s;
  const auto one = detail::param(r, "symbol");
  const auto many = detail::param(r, "symbols");
  if (!one.empty() && !many.empty()) {
    s.error = error(400, -1101, "Parameter 'symbol' and 'symbols' sent together.");
    return s;
  }
  if (!one.empty()) {
    s.single = true;
    s.list.push_back(detail::upper(one));
  } else if (!many.empty()) {
    auto list = symbol_list(many);
    if (!list) {
      s.error =
          error(400, -1100, "Illegal characters found in parameter 'symbols'; legal range is '[\"SYMBOL\",...]'.");
      return s;
    }
    s.list = std::move(*list);
  } else {
    s.list = store.symbols();
  }
  for (const auto& symbol : s.list)
    if (!store.has_symbol(symbol)) {
      s.error = invalid_symbol();
      return s;
    }
  return s;
}

Response klines(const Request& r, const ApiContext& ctx) {
  const auto symbol = detail::upper(detail::param(r, "symbol"));
  if (symbol.empty()) return mandatory("symbol");
  const auto interval = detail::param(r, "interval");
  if (interval.empty()) return mandatory("interval");
  if (interval_ms(interval) == 0) return error(400, -1120, "Invalid interval.");
  const auto tz = detail::param(r, "timeZone");
  if (!tz.empty() && tz != "0" && tz != "+0" && tz != "0:00" && tz != "+00:00")
    return error(400, -1100, "Parameter 'timeZone' is not supported here: candles are in UTC.");
  CandleQuery q{symbol, interval, std::nullopt, std::nullopt, kDefaultLimit};
  for (const auto& [name, target] : {std::pair<std::string, std::optional<std::int64_t>*>{"startTime", &q.start},
                                     std::pair<std::string, std::optional<std::int64_t>*>{"endTime", &q.end}}) {
    const auto p = detail::int_param(r, name, 0, INT64_MAX / 2);
    if (std::holds_alternative<detail::BadParameter>(p)) return bad_parameter(name);
    *target = std::get<0>(p);
  }
  const auto limit = detail::int_param(r, "limit", 1, kMaxLimit);
  if (std::holds_alternative<detail::BadParameter>(limit))
    return error(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1..1000'.");
  if (const auto& v = std::get<0>(limit)) q.limit = static_cast<std::size_t>(*v);
  if (q.start && q.end && *q.start > *q.end) return error(400, -1023, "Start time is greater than end time.");
  if (!ctx.store.has_symbol(symbol)) return invalid_symbol();
  // A start or end time counts against the window's open time, as Binance does: a window that
  // opened before startTime is not returned.
  Response out;
  const auto candles = query_candles(q, ctx, out);
  if (!candles) return {.needs_history = true};
  rapidjson::StringBuffer b;
  b.Reserve(q.limit * 160);
  Writer w(b);
  w.StartArray();
  for (const auto& c : *candles) detail::raw(w, binance_kline_array(c));
  w.EndArray();
  out.body = detail::text(b);
  return out;
}

Response ticker_price(const Request& r, const ApiContext& ctx) {
  const auto symbols = requested_symbols(r, ctx.store);
  if (symbols.error) return *symbols.error;
  rapidjson::StringBuffer b;
  Writer w(b);
  const auto one = [&](const std::string& symbol) {
    const auto c = ctx.store.latest(symbol);
    w.StartObject();
    detail::key(w, "symbol");
    detail::string(w, symbol);
    detail::key(w, "price");
    detail::decimal_string(w, c ? c->close : Decimal{});
    w.EndObject();
  };
  if (symbols.single) {
    one(symbols.list.front());
  } else {
    w.StartArray();
    for (const auto& s : symbols.list) one(s);
    w.EndArray();
  }
  return ok(b);
}

// The rolling 24 hours from the shortest interval's candles (Binance rolls over trades; this
// rolls over whole windows: the first window is the one open 24 h ago).
void ticker_24hr_one(Writer& w, const std::string& symbol, const ApiContext& ctx) {
  const auto intervals = ctx.store.intervals(symbol);
  std::vector<Candle> window;
  if (!intervals.empty()) {
    const auto step = interval_ms(intervals.front());
    window = ctx.store.candles({symbol, intervals.front(), ctx.now_ms - 86'400'000 - step + 1, std::nullopt, SIZE_MAX});
    if (window.empty())  // the feed is behind the clock (a replay): the last 24 h it holds
      if (const auto last = ctx.store.latest(symbol))
        window =
            ctx.store.candles({symbol, intervals.front(), last->start - 86'400'000 + step, std::nullopt, SIZE_MAX});
  }
  std::optional<Decimal> open, high, low, last, prev_close;
  Decimal volume, quote;
  std::int64_t count = 0, open_time = 0, close_time = 0;
  for (const auto& c : window) {
    if (c.trades == 0) continue;
    if (!open) {
      open = c.open;
      open_time = c.start;
    }
    high = high ? std::max(*high, c.high) : c.high;
    low = low ? std::min(*low, c.low) : c.low;
    last = c.close;
    close_time = c.end - 1;
    volume = volume.checked_add(c.volume).value_or(volume);
    quote = quote.checked_add(c.quote_volume).value_or(quote);
    count += c.trades;
  }
  if (!window.empty()) prev_close = window.front().open;
  const auto zero = Decimal::from_units(0, last ? last->scale() : 8);
  const auto change =
      last && open ? last->checked_add(Decimal::from_units(-open->units(), open->scale())) : std::nullopt;
  std::optional<Decimal> pct;
  if (change && open && !open->is_zero())
    if (const auto hundredfold = change->checked_mul(Decimal::from_int(100))) pct = hundredfold->divide(*open, 3);
  const auto avg = volume.is_zero() ? std::optional<Decimal>{} : quote.divide(volume, 8);
  const auto field = [&](std::string_view name, const std::optional<Decimal>& d) {
    detail::key(w, name);
    detail::decimal_string(w, d.value_or(zero));
  };
  w.StartObject();
  detail::key(w, "symbol");
  detail::string(w, symbol);
  field("priceChange", change);
  field("priceChangePercent", pct.value_or(Decimal::from_units(0, 3)));
  field("weightedAvgPrice", avg);
  field("prevClosePrice", prev_close);
  field("lastPrice", last);
  field("lastQty", std::nullopt);
  field("bidPrice", std::nullopt);
  field("bidQty", std::nullopt);
  field("askPrice", std::nullopt);
  field("askQty", std::nullopt);
  field("openPrice", open);
  field("highPrice", high);
  field("lowPrice", low);
  field("volume", volume);
  field("quoteVolume", quote);
  detail::key(w, "openTime");
  w.Int64(open_time);
  detail::key(w, "closeTime");
  w.Int64(close_time);
  detail::key(w, "firstId");
  w.Int64(-1);
  detail::key(w, "lastId");
  w.Int64(-1);
  detail::key(w, "count");
  w.Int64(count);
  w.EndObject();
}

Response ticker_24hr(const Request& r, const ApiContext& ctx) {
  const auto symbols = requested_symbols(r, ctx.store);
  if (symbols.error) return *symbols.error;
  rapidjson::StringBuffer b;
  Writer w(b);
  if (symbols.single) {
    ticker_24hr_one(w, symbols.list.front(), ctx);
  } else {
    w.StartArray();
    for (const auto& s : symbols.list) ticker_24hr_one(w, s, ctx);
    w.EndArray();
  }
  return ok(b);
}

Response exchange_info(const Request& r, const ApiContext& ctx) {
  const auto symbols = requested_symbols(r, ctx.store);
  if (symbols.error) return *symbols.error;
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "timezone");
  detail::string(w, "UTC");
  detail::key(w, "serverTime");
  w.Int64(ctx.now_ms);
  detail::key(w, "rateLimits");
  w.StartArray();
  w.EndArray();
  detail::key(w, "exchangeFilters");
  w.StartArray();
  w.EndArray();
  detail::key(w, "symbols");
  w.StartArray();
  for (const auto& symbol : symbols.list) {
    const auto [base, quote] = split_symbol(symbol);
    const auto last = ctx.store.latest(symbol);
    const auto step = [](int scale) { return scale > 0 ? Decimal::from_units(1, scale) : Decimal::from_int(1); };
    w.StartObject();
    detail::key(w, "symbol");
    detail::string(w, symbol);
    detail::key(w, "status");
    detail::string(w, "TRADING");
    detail::key(w, "baseAsset");
    detail::string(w, base);
    detail::key(w, "baseAssetPrecision");
    w.Int(8);
    detail::key(w, "quoteAsset");
    detail::string(w, quote);
    detail::key(w, "quotePrecision");
    w.Int(8);
    detail::key(w, "quoteAssetPrecision");
    w.Int(8);
    detail::key(w, "orderTypes");
    w.StartArray();
    w.EndArray();
    detail::key(w, "isSpotTradingAllowed");
    w.Bool(false);
    detail::key(w, "isMarginTradingAllowed");
    w.Bool(false);
    // The step sizes are what the data shows: the digits of the last price and volume.
    detail::key(w, "filters");
    w.StartArray();
    w.StartObject();
    detail::key(w, "filterType");
    detail::string(w, "PRICE_FILTER");
    detail::key(w, "tickSize");
    detail::decimal_string(w, step(last ? last->close.scale() : 8));
    w.EndObject();
    w.StartObject();
    detail::key(w, "filterType");
    detail::string(w, "LOT_SIZE");
    detail::key(w, "stepSize");
    detail::decimal_string(w, step(last ? last->volume.scale() : 8));
    w.EndObject();
    w.EndArray();
    detail::key(w, "permissions");
    w.StartArray();
    w.EndArray();
    detail::key(w, "intervals");  // cryptoflow's own: what /api/v3/klines serves for the symbol
    w.StartArray();
    for (const auto& i : ctx.store.intervals(symbol)) detail::string(w, i);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return ok(b);
}

}  // namespace

std::string binance_kline_array(const Candle& c) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartArray();
  w.Int64(c.start);
  detail::decimal_string(w, c.open);
  detail::decimal_string(w, c.high);
  detail::decimal_string(w, c.low);
  detail::decimal_string(w, c.close);
  detail::decimal_string(w, c.volume);
  w.Int64(c.end - 1);
  detail::decimal_string(w, c.quote_volume);
  w.Int64(c.trades);
  detail::decimal_string(w, c.taker_buy_volume);
  detail::string(w, "0");  // taker buy quote volume: not computed (docs/gateway.md)
  detail::string(w, "0");  // "unused field" in Binance's documentation
  w.EndArray();
  return detail::text(b);
}

std::string binance_stream_name(const Candle& c) {
  return detail::lower(c.symbol) + "@kline_" + c.interval;
}

std::string binance_kline_event(const Candle& c, std::int64_t event_time_ms) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "e");
  detail::string(w, "kline");
  detail::key(w, "E");
  w.Int64(event_time_ms);
  detail::key(w, "s");
  detail::string(w, c.symbol);
  detail::key(w, "k");
  w.StartObject();
  const auto field = [&](std::string_view name, const Decimal& d) {
    detail::key(w, name);
    detail::decimal_string(w, d);
  };
  detail::key(w, "t");
  w.Int64(c.start);
  detail::key(w, "T");
  w.Int64(c.end - 1);
  detail::key(w, "s");
  detail::string(w, c.symbol);
  detail::key(w, "i");
  detail::string(w, c.interval);
  detail::key(w, "f");  // trade ids are not carried by candles: Binance's value for "none"
  w.Int64(-1);
  detail::key(w, "L");
  w.Int64(-1);
  field("o", c.open);
  field("c", c.close);
  field("h", c.high);
  field("l", c.low);
  field("v", c.volume);
  detail::key(w, "n");
  w.Int64(c.trades);
  detail::key(w, "x");
  w.Bool(c.final);
  field("q", c.quote_volume);
  field("V", c.taker_buy_volume);
  detail::key(w, "Q");  // not computed (docs/gateway.md)
  detail::string(w, "0");
  detail::key(w, "B");
  detail::string(w, "0");
  w.EndObject();
  w.EndObject();
  return detail::text(b);
}

Response binance_api(const Request& request, std::string_view path, const ApiContext& context) {
  if (path == "/api/v3/klines" || path == "/api/v3/uiKlines") return klines(request, context);
  if (path == "/api/v3/ticker/price") return ticker_price(request, context);
  if (path == "/api/v3/ticker/24hr") return ticker_24hr(request, context);
  if (path == "/api/v3/exchangeInfo") return exchange_info(request, context);
  if (path == "/api/v3/ping") return {200, "{}"};
  if (path == "/api/v3/time") return {200, "{\"serverTime\":" + std::to_string(context.now_ms) + "}"};
  return error(404, -1000, "Not served by cryptoflow's gateway: " + std::string(path));
}

Response binance_error(int status, int code, std::string_view msg) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "code");
  w.Int(code);
  detail::key(w, "msg");
  detail::string(w, printable(msg));  // it may echo what the client sent
  w.EndObject();
  return {status, detail::text(b)};
}

}  // namespace cryptoflow::gateway
