// Binance's spot REST shapes (https://developers.binance.com/docs/binance-spot-api-docs/rest-api),
// served from the candles cryptoflow computed. Errors are Binance's {"code":-11xx,"msg":"..."}.
#include <algorithm>
#include <array>
#include <charconv>
#include <variant>

#include "api.hpp"
#include "api_detail.hpp"
#include "handlers.hpp"
#include "rollup.hpp"

namespace cryptoflow::gateway {
namespace binance {

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

Response bad_time_zone() {
  return error(400, -1100, "Illegal characters found in parameter 'timeZone'; legal range is '-12:00 to +14:00'.");
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
template <class Store>  // MarketStore (candles) or BookStore
Symbols requested_symbols(const Request& r, const Store& store) {
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

}  // namespace binance

using detail::Writer;
// The handlers' helpers write the stream events below too.
using namespace binance;  // NOLINT(google-build-using-namespace)

std::optional<CandleSource> binance_source(const CandleQuery& q, std::int64_t offset_ms, const MarketStore& store) {
  const auto held = store.intervals(q.symbol);
  if (serves_directly(held, q.interval, offset_ms)) return CandleSource{q};
  const auto base = base_interval(held, q.interval, offset_ms);
  if (base.empty()) return std::nullopt;
  // The base candles of the windows asked for: from the first window that opens at or after
  // start, through the whole window open at end; enough of them for `limit` windows (at most
  // 100,000: a 1M window of 1m candles is 44,640).
  CandleQuery b{q.symbol, base, std::nullopt, std::nullopt, 0};
  if (q.start) {
    auto first = window_open(*q.start, q.interval, offset_ms);
    if (first < *q.start) first = window_next(first, q.interval, offset_ms);
    b.start = first;
  }
  if (q.end) b.end = window_next(window_open(*q.end, q.interval, offset_ms), q.interval, offset_ms) - 1;
  const auto per_window =
      (q.interval == "1M" ? std::int64_t{31} * 86'400'000 : interval_ms(q.interval)) / interval_ms(base);
  b.limit =
      static_cast<std::size_t>(std::min<std::int64_t>(per_window * static_cast<std::int64_t>(q.limit + 1), 100'000));
  return CandleSource{b, true};
}

std::vector<Candle> binance_candles(const CandleQuery& q, std::int64_t offset_ms, const ApiContext& ctx,
                                    Response& response) {
  const auto source = binance_source(q, offset_ms, ctx.store);
  if (!source) return {};
  auto candles = query_candles(source->query, ctx, response);
  if (!source->roll_up) return candles;
  auto out = roll_up(candles, q.interval, offset_ms, ctx.store.origin(q.symbol, source->query.interval));
  keep_limit(out, q);
  return out;
}

namespace binance {

struct KlinesQuery {
  CandleQuery q;
  std::int64_t offset_ms = 0;  // timeZone
};

std::variant<KlinesQuery, Response> klines_query(const Request& r, const ApiContext& ctx) {
  const auto symbol = detail::upper(detail::param(r, "symbol"));
  if (symbol.empty()) return mandatory("symbol");
  const auto interval = detail::param(r, "interval");
  if (interval.empty()) return mandatory("interval");
  if (interval_ms(interval) == 0) return error(400, -1120, "Invalid interval.");
  const auto offset = parse_time_zone(detail::param(r, "timeZone"));
  if (!offset) return bad_time_zone();
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
  return KlinesQuery{q, *offset};
}

Runs klines_runs(const Request& r, const ApiContext& ctx) {
  if (!ctx.history_enabled) return Runs::io;
  const auto parsed = klines_query(r, ctx);
  const auto* k = std::get_if<KlinesQuery>(&parsed);
  if (k == nullptr) return Runs::io;
  const auto source = binance_source(k->q, k->offset_ms, ctx.store);
  return source && reaches_history(source->query, ctx) ? Runs::history : Runs::io;
}

Response klines(const Request& r, const ApiContext& ctx) {
  auto parsed = klines_query(r, ctx);
  if (auto* e = std::get_if<Response>(&parsed)) return std::move(*e);
  const auto& [q, offset] = std::get<KlinesQuery>(parsed);
  // A start or end time counts against the window's open time, as Binance does: a window that
  // opened before startTime is not returned.
  Response out;
  const auto candles = binance_candles(q, offset, ctx, out);
  rapidjson::StringBuffer b;
  b.Reserve(q.limit * 160);
  Writer w(b);
  w.StartArray();
  for (const auto& c : candles) detail::raw(w, binance_kline_array(c));
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
    detail::binance_decimal(w, c ? c->close : Decimal{});
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

// A symbol's figures over [from, to] from the shortest interval's candles: Binance rolls over
// trades; this rolls over whole windows (the first is the one open at `from`). A symbol with no
// trade in the window keeps its last price, with no volume (Binance's answer for a quiet market).
struct Rolling {
  std::optional<Decimal> open, high, low, last, prev_close;
  Decimal volume, quote;
  std::int64_t count = 0, open_time = 0, close_time = 0, first_id = -1, last_id = -1;
  std::optional<Decimal> last_qty;
};

// The end of the data: now, or, when the feed is behind the clock (a replay), the newest candle's end.
std::int64_t data_now(const std::string& symbol, const ApiContext& ctx, std::int64_t window_ms) {
  const auto latest = ctx.store.latest(symbol);
  if (!latest || latest->end > ctx.now_ms - window_ms) return ctx.now_ms;
  return latest->end - 1;
}

Rolling rolling(const std::string& symbol, std::int64_t from, std::int64_t to, const ApiContext& ctx) {
  Rolling s;
  s.open_time = from;
  s.close_time = to;
  const auto intervals = ctx.store.intervals(symbol);
  if (intervals.empty()) return s;
  const auto step = interval_ms(intervals.front());
  const auto window = ctx.store.candles({symbol, intervals.front(), from - step + 1, to, SIZE_MAX});
  for (const auto& c : window) {
    if (c.trades == 0) continue;
    if (!s.open) {
      s.open = c.open;
      s.open_time = std::max(from, c.start);
    }
    s.high = s.high ? std::max(*s.high, c.high) : c.high;
    s.low = s.low ? std::min(*s.low, c.low) : c.low;
    s.last = c.close;
    s.close_time = std::min(to, c.end - 1);
    s.volume = s.volume.checked_add(c.volume).value_or(s.volume);
    s.quote = s.quote.checked_add(c.quote_volume).value_or(s.quote);
    s.count += c.trades;
  }
  if (!window.empty()) s.prev_close = window.front().open;
  if (!s.last) {  // quiet: the last price known, before the window
    const auto before = ctx.store.candles({symbol, intervals.front(), std::nullopt, to, 1});
    if (!before.empty()) s.open = s.high = s.low = s.last = s.prev_close = before.back().close;
  }
  // Binance numbers a symbol's trades consecutively: the window's first id follows from its last.
  if (ctx.trades != nullptr && s.count > 0)
    if (const auto t = ctx.trades->last(symbol); t && t->time <= to && t->time >= s.open_time) {
      s.last_id = t->last_id;
      s.first_id = t->last_id - s.count + 1;
      if (!ctx.trades->aggregated(symbol) || t->first_id == t->last_id) s.last_qty = t->quantity;
    }
  return s;
}

// What a ticker derives from its figures: last - open and it in percent of open (3 places,
// Binance's), when both are known; the quantity-weighted price (the last price when nothing traded).
struct Changes {
  std::optional<Decimal> change, percent, weighted;
};
Changes changes(const Rolling& s) {
  Changes c;
  c.weighted = s.volume.is_zero() ? s.last : s.quote.divide(s.volume, 8);
  if (!s.last || !s.open) return c;
  c.change = s.last->checked_add(Decimal::from_units(-s.open->units(), s.open->scale()));
  if (c.change && !s.open->is_zero())
    if (const auto hundredfold = c.change->checked_mul(Decimal::from_int(100)))
      c.percent = hundredfold->divide(*s.open, 3);
  return c;
}

// "name": the decimal as Binance prints it, or "0.00000000" when there is none.
void put(Writer& w, std::string_view name, const std::optional<Decimal>& d) {
  detail::key(w, name);
  detail::binance_decimal(w, d.value_or(Decimal::from_units(0, 8)));
}

// Binance's percent change: 3 places, "0.000" when unknown.
void put_percent(Writer& w, std::string_view name, const std::optional<Decimal>& d) {
  detail::key(w, name);
  detail::decimal_string(w, d.value_or(Decimal::from_units(0, 3)));
}

enum class TickerShape { full, mini, rolling };

void write_ticker(Writer& w, const std::string& symbol, const Rolling& s, TickerShape shape) {
  const auto c = changes(s);
  const auto field = [&](std::string_view name, const std::optional<Decimal>& d) { put(w, name, d); };
  w.StartObject();
  detail::key(w, "symbol");
  detail::string(w, symbol);
  if (shape != TickerShape::mini) {
    field("priceChange", c.change);
    put_percent(w, "priceChangePercent", c.percent);
    field("weightedAvgPrice", c.weighted);
  }
  if (shape == TickerShape::full) {
    field("prevClosePrice", s.prev_close);
    field("lastPrice", s.last);
    field("lastQty", s.last_qty);
    field("bidPrice", std::nullopt);
    field("bidQty", std::nullopt);
    field("askPrice", std::nullopt);
    field("askQty", std::nullopt);
  }
  field("openPrice", s.open);
  field("highPrice", s.high);
  field("lowPrice", s.low);
  if (shape != TickerShape::full) field("lastPrice", s.last);
  field("volume", s.volume);
  field("quoteVolume", s.quote);
  detail::key(w, "openTime");
  w.Int64(s.open_time);
  detail::key(w, "closeTime");
  w.Int64(s.close_time);
  detail::key(w, "firstId");
  w.Int64(s.first_id);
  detail::key(w, "lastId");
  w.Int64(s.last_id);
  detail::key(w, "count");
  w.Int64(s.count);
  w.EndObject();
}

// windowSize: 1m..59m, 1h..23h, 1d..7d (Binance's rolling ticker); 0 when malformed.
std::int64_t window_size_ms(const std::string& text) {
  if (text.size() < 2) return 0;
  std::int64_t n = 0;
  const auto unit = text.back();
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || p != text.data() + text.size() - 1 || n < 1) return 0;
  if (unit == 'm' && n <= 59) return n * 60'000;
  if (unit == 'h' && n <= 23) return n * 3'600'000;
  if (unit == 'd' && n <= 7) return n * 86'400'000;
  return 0;
}

// /api/v3/ticker/24hr, /api/v3/ticker (windowSize) and /api/v3/ticker/tradingDay (timeZone).
Response ticker(const Request& r, const ApiContext& ctx, std::string_view kind) {
  // Only ticker/24hr answers for every symbol (on the heavy worker, is_heavy); the others need
  // one or a list, as at Binance: otherwise each would walk every symbol on the I/O thread.
  if (kind != "24hr" && detail::param(r, "symbol").empty() && detail::param(r, "symbols").empty())
    return error(400, -1102, "Param 'symbol' or 'symbols' must be sent, but both were empty.");
  const auto symbols = requested_symbols(r, ctx.store);
  if (symbols.error) return *symbols.error;
  const auto type = detail::param(r, "type");
  if (!type.empty() && type != "FULL" && type != "MINI")
    return error(400, -1100, "Illegal characters found in parameter 'type'; legal range is 'FULL, MINI'.");
  std::int64_t window = 86'400'000;
  std::int64_t offset = 0;
  if (kind == "rolling" && !detail::param(r, "windowSize").empty()) {
    window = window_size_ms(detail::param(r, "windowSize"));
    if (window == 0) return error(400, -1100, "Invalid windowSize.");
  }
  if (kind == "tradingDay") {
    const auto tz = parse_time_zone(detail::param(r, "timeZone"));
    if (!tz) return bad_time_zone();
    offset = *tz;
  }
  if (kind != "24hr" && symbols.list.size() > 100)
    return error(400, -1101, "Too many values sent for parameter 'symbols', maximum allowed up to 100.");
  const auto shape = type == "MINI" ? TickerShape::mini : kind == "24hr" ? TickerShape::full : TickerShape::rolling;
  rapidjson::StringBuffer b;
  Writer w(b);
  const auto one = [&](const std::string& symbol) {
    const auto to = data_now(symbol, ctx, window);
    const auto from = kind == "tradingDay" ? window_open(to, "1d", offset) : to - window + 1;
    write_ticker(w, symbol, rolling(symbol, from, to, ctx), shape);
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

Response avg_price(const Request& r, const ApiContext& ctx) {
  const auto symbol = detail::upper(detail::param(r, "symbol"));
  if (symbol.empty()) return mandatory("symbol");
  if (!ctx.store.has_symbol(symbol) && (ctx.trades == nullptr || !ctx.trades->has_symbol(symbol)))
    return invalid_symbol();
  std::optional<AveragePrice> a;
  if (ctx.trades != nullptr) a = ctx.trades->average(symbol, 8);
  if (!a)
    if (const auto c = ctx.store.latest(symbol)) a = AveragePrice{c->close, c->end - 1};
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "mins");
  w.Int(5);
  detail::key(w, "price");
  detail::binance_decimal(w, a ? a->price : Decimal::from_units(0, 8));
  detail::key(w, "closeTime");
  w.Int64(a ? a->close_time : 0);
  w.EndObject();
  return ok(b);
}

// The symbol of a trades call, checked: nullopt and the error when it is not served.
std::optional<std::string> trade_symbol(const Request& r, const ApiContext& ctx, Response& error_out) {
  const auto symbol = detail::upper(detail::param(r, "symbol"));
  if (symbol.empty()) {
    error_out = mandatory("symbol");
    return std::nullopt;
  }
  if (ctx.trades == nullptr || !ctx.trades->has_symbol(symbol)) {
    error_out = invalid_symbol();
    return std::nullopt;
  }
  return symbol;
}

std::variant<std::size_t, Response> trade_limit(const Request& r) {
  const auto limit = detail::int_param(r, "limit", 1, kMaxLimit);
  if (std::holds_alternative<detail::BadParameter>(limit))
    return error(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1..1000'.");
  return static_cast<std::size_t>(std::get<0>(limit).value_or(kDefaultLimit));
}

// /api/v3/trades (the most recent) and /api/v3/historicalTrades (fromId).
Response trades(const Request& r, const ApiContext& ctx, bool historical) {
  Response err;
  const auto symbol = trade_symbol(r, ctx, err);
  if (!symbol) return err;
  const auto limit = trade_limit(r);
  if (const auto* e = std::get_if<Response>(&limit)) return *e;
  std::optional<std::int64_t> from;
  if (historical) {
    const auto id = detail::int_param(r, "fromId", 0, INT64_MAX);
    if (std::holds_alternative<detail::BadParameter>(id)) return bad_parameter("fromId");
    from = std::get<0>(id);
  }
  if (ctx.trades->aggregated(*symbol))
    return error(400, -1100,
                 "Single trades of " + *symbol +
                     " are not held: its feed carries aggregate trades only. Use /api/v3/aggTrades.");
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartArray();
  for (const auto& t : ctx.trades->trades(*symbol, from, std::get<std::size_t>(limit))) {
    w.StartObject();
    detail::key(w, "id");
    w.Int64(t.id);
    detail::key(w, "price");
    detail::binance_decimal(w, t.price);
    detail::key(w, "qty");
    detail::binance_decimal(w, t.quantity);
    detail::key(w, "quoteQty");
    detail::decimal_string(w, t.price.checked_mul(t.quantity).value_or(Decimal{}).normalized());
    detail::key(w, "time");
    w.Int64(t.time);
    detail::key(w, "isBuyerMaker");
    w.Bool(t.buyer_is_maker);
    detail::key(w, "isBestMatch");
    w.Bool(true);
    w.EndObject();
  }
  w.EndArray();
  return ok(b);
}

Response agg_trades(const Request& r, const ApiContext& ctx) {
  Response err;
  const auto symbol = trade_symbol(r, ctx, err);
  if (!symbol) return err;
  const auto limit = trade_limit(r);
  if (const auto* e = std::get_if<Response>(&limit)) return *e;
  AggQuery q{*symbol, std::nullopt, std::nullopt, std::nullopt, std::get<std::size_t>(limit)};
  for (const auto& [name, target] : {std::pair<std::string, std::optional<std::int64_t>*>{"fromId", &q.from_id},
                                     std::pair<std::string, std::optional<std::int64_t>*>{"startTime", &q.start},
                                     std::pair<std::string, std::optional<std::int64_t>*>{"endTime", &q.end}}) {
    const auto p = detail::int_param(r, name, 0, INT64_MAX / 2);
    if (std::holds_alternative<detail::BadParameter>(p)) return bad_parameter(name);
    *target = std::get<0>(p);
  }
  if (q.start && q.end && *q.start > *q.end) return error(400, -1023, "Start time is greater than end time.");
  if (q.start && q.end && *q.end - *q.start > 3'600'000)
    return error(400, -1127, "More than 1 hours between startTime and endTime.");
  if (q.from_id && (q.start || q.end))
    return error(400, -1128,
                 "Combination of optional parameters invalid. Recommendation: 'fromId' cannot be sent with 'startTime' "
                 "or 'endTime'.");
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartArray();
  for (const auto& a : ctx.trades->aggregates(q)) detail::raw(w, binance_agg_trade(a));
  w.EndArray();
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

}  // namespace binance

std::string binance_kline_array(const Candle& c) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartArray();
  w.Int64(c.start);
  detail::binance_decimal(w, c.open);
  detail::binance_decimal(w, c.high);
  detail::binance_decimal(w, c.low);
  detail::binance_decimal(w, c.close);
  detail::binance_decimal(w, c.volume);
  w.Int64(c.end - 1);
  detail::binance_decimal(w, c.quote_volume);
  w.Int64(c.trades);
  detail::binance_decimal(w, c.taker_buy_volume);
  detail::binance_decimal(w, c.taker_buy_quote_volume);
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
    detail::binance_decimal(w, d);
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
  field("Q", c.taker_buy_quote_volume);
  detail::key(w, "B");
  detail::string(w, "0");
  w.EndObject();
  w.EndObject();
  return detail::text(b);
}

namespace binance {
// A trade's fields as Binance's trade and aggTrade payloads carry them: "t" or "a" (with "f", "l").
void trade_fields(Writer& w, const HeldTrade& t, bool aggregate) {
  detail::key(w, aggregate ? "a" : "t");
  w.Int64(t.id);
  detail::key(w, "p");
  detail::binance_decimal(w, t.price);
  detail::key(w, "q");
  detail::binance_decimal(w, t.quantity);
  if (aggregate) {
    detail::key(w, "f");
    w.Int64(t.first_id);
    detail::key(w, "l");
    w.Int64(t.last_id);
  }
  detail::key(w, "T");
  w.Int64(t.time);
  detail::key(w, "m");
  w.Bool(t.buyer_is_maker);
  detail::key(w, "M");
  w.Bool(true);
}
}  // namespace binance

std::string binance_agg_trade(const HeldTrade& a) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  trade_fields(w, a, true);
  w.EndObject();
  return detail::text(b);
}

std::string binance_trade_event(const std::string& symbol, const HeldTrade& t, bool aggregate,
                                std::int64_t event_time_ms) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "e");
  detail::string(w, aggregate ? "aggTrade" : "trade");
  detail::key(w, "E");
  w.Int64(event_time_ms);
  detail::key(w, "s");
  detail::string(w, symbol);
  trade_fields(w, t, aggregate);
  w.EndObject();
  return detail::text(b);
}

std::string binance_ticker_event(const std::string& symbol, bool mini, const ApiContext& ctx) {
  const auto to = data_now(symbol, ctx, 86'400'000);
  const auto s = rolling(symbol, to - 86'400'000 + 1, to, ctx);
  rapidjson::StringBuffer b;
  Writer w(b);
  const auto field = [&](std::string_view name, const std::optional<Decimal>& d) { put(w, name, d); };
  w.StartObject();
  detail::key(w, "e");
  detail::string(w, mini ? "24hrMiniTicker" : "24hrTicker");
  detail::key(w, "E");
  w.Int64(ctx.now_ms);
  detail::key(w, "s");
  detail::string(w, symbol);
  if (mini) {
    field("c", s.last);
    field("o", s.open);
    field("h", s.high);
    field("l", s.low);
    field("v", s.volume);
    field("q", s.quote);
    w.EndObject();
    return detail::text(b);
  }
  const auto c = changes(s);
  field("p", c.change);
  put_percent(w, "P", c.percent);
  field("w", c.weighted);
  field("x", s.prev_close);
  field("c", s.last);
  field("Q", s.last_qty);
  field("b", std::nullopt);
  field("B", std::nullopt);
  field("a", std::nullopt);
  field("A", std::nullopt);
  field("o", s.open);
  field("h", s.high);
  field("l", s.low);
  field("v", s.volume);
  field("q", s.quote);
  detail::key(w, "O");
  w.Int64(s.open_time);
  detail::key(w, "C");
  w.Int64(s.close_time);
  detail::key(w, "F");
  w.Int64(s.first_id);
  detail::key(w, "L");
  w.Int64(s.last_id);
  detail::key(w, "n");
  w.Int64(s.count);
  w.EndObject();
  return detail::text(b);
}

std::optional<std::string> binance_avg_price_event(const std::string& symbol, const ApiContext& ctx) {
  if (ctx.trades == nullptr) return std::nullopt;
  const auto a = ctx.trades->average(symbol, 8);
  if (!a) return std::nullopt;
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "e");
  detail::string(w, "avgPrice");
  detail::key(w, "E");
  w.Int64(ctx.now_ms);
  detail::key(w, "s");
  detail::string(w, symbol);
  detail::key(w, "i");
  detail::string(w, "5m");
  detail::key(w, "w");
  detail::binance_decimal(w, a->price);
  detail::key(w, "T");
  w.Int64(a->close_time);
  w.EndObject();
  return detail::text(b);
}

namespace binance {

void put_levels(Writer& w, const std::vector<PriceLevel>& levels) {
  w.StartArray();
  for (const auto& l : levels) {
    w.StartArray();
    detail::decimal_string(w, l.price);
    detail::decimal_string(w, l.quantity);
    w.EndArray();
  }
  w.EndArray();
}

// A held book that is not good: the gateway will not present it (Binance's "unable to process").
Response book_unavailable() {
  return error(503, -1001, "Internal error; unable to process your request. Please try again.");
}

// GET /api/v3/depth?symbol=&limit= (default 100; more than 5000 is cut to 5000, as Binance does).
Response depth(const Request& r, const ApiContext& ctx) {
  const auto symbol = detail::upper(detail::param(r, "symbol"));
  if (symbol.empty()) return mandatory("symbol");
  const auto limit = detail::int_param(r, "limit", 1, INT64_MAX / 2);
  if (std::holds_alternative<detail::BadParameter>(limit)) return bad_parameter("limit");
  const auto n = static_cast<std::size_t>(std::min<std::int64_t>(5000, std::get<0>(limit).value_or(100)));
  if (ctx.books == nullptr || !ctx.books->holds(symbol)) return invalid_symbol();
  const auto view = ctx.books->view(symbol, n);
  if (!view) return book_unavailable();
  return {200, binance_partial_depth_event(*view)};  // Binance's REST answer and @depth<N> payload are one shape
}

// A side's best level as two strings ("0.00000000" for an empty side, as Binance sends).
void put_best(Writer& w, std::string_view price, std::string_view qty, const std::vector<PriceLevel>& levels) {
  detail::key(w, price);
  detail::string(w, levels.empty() ? "0.00000000" : levels.front().price.to_string());
  detail::key(w, qty);
  detail::string(w, levels.empty() ? "0.00000000" : levels.front().quantity.to_string());
}

// GET /api/v3/ticker/bookTicker: one symbol (an object), several (symbols=[...]) or all (arrays).
Response book_ticker(const Request& r, const ApiContext& ctx) {
  if (ctx.books == nullptr) return invalid_symbol();
  const auto symbols = requested_symbols(r, *ctx.books);
  if (symbols.error) return *symbols.error;
  std::vector<std::pair<std::string, BookView>> views;
  for (const auto& s : symbols.list) {
    auto v = ctx.books->view(s, 1);
    if (!v) return book_unavailable();
    views.emplace_back(s, std::move(*v));
  }
  rapidjson::StringBuffer b;
  Writer w(b);
  if (!symbols.single) w.StartArray();
  for (const auto& [s, v] : views) {
    w.StartObject();
    detail::key(w, "symbol");
    detail::string(w, s);
    put_best(w, "bidPrice", "bidQty", v.bids);
    put_best(w, "askPrice", "askQty", v.asks);
    w.EndObject();
  }
  if (!symbols.single) w.EndArray();
  return ok(b);
}

}  // namespace binance

std::string binance_depth_event(const BookRecord& r, std::int64_t event_time_ms) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "e");
  w.String("depthUpdate");
  detail::key(w, "E");
  w.Int64(event_time_ms);
  detail::key(w, "s");
  detail::string(w, r.symbol);
  detail::key(w, "U");
  w.Int64(r.first_id);
  detail::key(w, "u");
  w.Int64(r.id);
  detail::key(w, "b");
  put_levels(w, r.bids);
  detail::key(w, "a");
  put_levels(w, r.asks);
  w.EndObject();
  return detail::text(b);
}

std::string binance_partial_depth_event(const BookView& v) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "lastUpdateId");
  w.Int64(v.id);
  detail::key(w, "bids");
  put_levels(w, v.bids);
  detail::key(w, "asks");
  put_levels(w, v.asks);
  w.EndObject();
  return detail::text(b);
}

std::string binance_book_ticker_event(const std::string& symbol, const BookView& v) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "u");
  w.Int64(v.id);
  detail::key(w, "s");
  detail::string(w, symbol);
  put_best(w, "b", "B", v.bids);
  put_best(w, "a", "A", v.asks);
  w.EndObject();
  return detail::text(b);
}

namespace binance {

Response ticker_24hr(const Request& r, const ApiContext& ctx) {
  return ticker(r, ctx, "24hr");
}
Response ticker_rolling(const Request& r, const ApiContext& ctx) {
  return ticker(r, ctx, "rolling");
}
Response ticker_trading_day(const Request& r, const ApiContext& ctx) {
  return ticker(r, ctx, "tradingDay");
}
Response trades(const Request& r, const ApiContext& ctx) {
  return trades(r, ctx, false);
}
Response historical_trades(const Request& r, const ApiContext& ctx) {
  return trades(r, ctx, true);
}
Response ping(const Request&, const ApiContext&) {
  return {200, "{}"};
}
Response time(const Request&, const ApiContext& ctx) {
  return {200, "{\"serverTime\":" + std::to_string(ctx.now_ms) + "}"};
}

}  // namespace binance

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
