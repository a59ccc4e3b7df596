// The native API: the contract's message shapes (decimals as strings, times in ms) and errors a
// client can act on: 400 naming the parameter, 404 for what is not held.
#include <algorithm>
#include <cstdio>
#include <variant>

#include "api.hpp"
#include "api_detail.hpp"
#include "handlers.hpp"

namespace cryptoflow::gateway::native {

using detail::Writer;

constexpr std::int64_t kMaxCandles = 1500;

Response symbols(const Request&, const ApiContext& ctx) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "symbols");
  w.StartArray();
  for (const auto& symbol : ctx.store.symbols()) {
    w.StartObject();
    detail::key(w, "symbol");
    detail::string(w, symbol);
    detail::key(w, "intervals");
    w.StartArray();
    for (const auto& i : ctx.store.intervals(symbol)) detail::string(w, i);
    w.EndArray();
    if (const auto last = ctx.store.latest(symbol)) {
      detail::key(w, "price");
      detail::decimal_string(w, last->close);
      detail::key(w, "window_end");
      w.Int64(last->end);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {200, detail::text(b)};
}

namespace {

std::variant<CandleQuery, Response> candles_query(const Request& r, const ApiContext& ctx) {
  const auto symbol = detail::upper(detail::param(r, "symbol"));
  const auto interval = detail::param(r, "interval");
  if (symbol.empty()) return native_error(400, "symbol is required", "symbol");
  if (interval.empty()) return native_error(400, "interval is required", "interval");
  if (interval_ms(interval) == 0) return native_error(400, "interval is not one of Binance's intervals", "interval");
  CandleQuery q{symbol, interval, std::nullopt, std::nullopt, 500};
  for (const auto& [name, target] : {std::pair<std::string, std::optional<std::int64_t>*>{"start", &q.start},
                                     std::pair<std::string, std::optional<std::int64_t>*>{"end", &q.end}}) {
    const auto p = detail::int_param(r, name, 0, INT64_MAX / 2);
    if (std::holds_alternative<detail::BadParameter>(p))
      return native_error(400, name + " must be a time in ms since the epoch", name);
    *target = std::get<0>(p);
  }
  const auto limit = detail::int_param(r, "limit", 1, kMaxCandles);
  if (std::holds_alternative<detail::BadParameter>(limit))
    return native_error(400, "limit must be 1.." + std::to_string(kMaxCandles), "limit");
  if (const auto& v = std::get<0>(limit)) q.limit = static_cast<std::size_t>(*v);
  if (!ctx.store.has_symbol(symbol)) return native_error(404, "no candles for " + symbol, "symbol");
  const auto held = ctx.store.intervals(symbol);
  if (std::find(held.begin(), held.end(), interval) == held.end())
    return native_error(404, "no " + interval + " candles for " + symbol, "interval");
  return q;
}

}  // namespace

Response candles(const Request& r, const ApiContext& ctx) {
  auto parsed = candles_query(r, ctx);
  if (auto* e = std::get_if<Response>(&parsed)) return std::move(*e);
  const auto& q = std::get<CandleQuery>(parsed);
  const auto& symbol = q.symbol;
  const auto& interval = q.interval;
  Response out;
  const auto candles = query_candles(q, ctx, out);
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "symbol");
  detail::string(w, symbol);
  detail::key(w, "interval");
  detail::string(w, interval);
  detail::key(w, "candles");
  w.StartArray();
  for (const auto& c : candles) detail::raw(w, to_json(c));
  w.EndArray();
  w.EndObject();
  out.body = detail::text(b);
  return out;
}

Response indicators(const Request& r, const ApiContext& ctx) {
  const auto symbol = detail::upper(detail::param(r, "symbol"));
  if (!symbol.empty() && !ctx.store.has_symbol(symbol)) return native_error(404, "no data for " + symbol, "symbol");
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "indicators");
  w.StartArray();
  for (const auto& i : ctx.store.indicators(symbol)) detail::raw(w, to_json(i));
  w.EndArray();
  w.EndObject();
  return {200, detail::text(b)};
}

Response tickers(const Request& r, const ApiContext& ctx) {
  const auto vs = detail::lower(detail::param(r, "vs_currency"));
  const auto coins = detail::csv(detail::lower(detail::param(r, "coins")));
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "tickers");
  w.StartArray();
  for (const auto& t : ctx.store.tickers(vs))
    if (coins.empty() || std::find(coins.begin(), coins.end(), t.coin) != coins.end()) detail::raw(w, to_json(t));
  w.EndArray();
  w.EndObject();
  return {200, detail::text(b)};
}

Response pipeline(const Request&, const ApiContext& ctx) {
  const auto p = ctx.store.pipeline();
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "trades_per_second");
  char rate[32];
  const auto n = std::snprintf(rate, sizeof rate, "%.1f", p.trades_per_second);
  detail::string(w, std::string_view(rate, static_cast<std::size_t>(n)));
  detail::key(w, "last_closed_window_end");
  w.Int64(p.last_closed_end);
  detail::key(w, "watermark_lag_ms");  // wall clock minus the newest closed window's end
  if (p.last_closed_end > 0)
    w.Int64(ctx.now_ms - p.last_closed_end);
  else
    w.Null();
  detail::key(w, "dead_letters");
  if (p.dead_letters)
    w.Int64(*p.dead_letters);
  else
    w.Null();
  detail::key(w, "records");
  w.Uint64(p.records);
  w.EndObject();
  return {200, detail::text(b)};
}

Runs candles_runs(const Request& r, const ApiContext& ctx) {
  if (!ctx.history_enabled) return Runs::io;
  const auto parsed = candles_query(r, ctx);
  const auto* q = std::get_if<CandleQuery>(&parsed);
  return q != nullptr && reaches_history(*q, ctx) ? Runs::history : Runs::io;
}

}  // namespace cryptoflow::gateway::native
