// CoinGecko's /simple/price, /simple/supported_vs_currencies, /coins/list, /coins/markets,
// /coins/{id}/market_chart (+ /range) and /coins/{id}/ohlc (https://docs.coingecko.com/reference),
// served from crypto.tickers: the latest tickers with the digits the producer received, the
// history from what the gateway has read (ticker_history.hpp), as CoinGecko's floats.
#include <algorithm>
#include <charconv>
#include <cmath>

#include "api.hpp"
#include "api_detail.hpp"
#include "cryptoflow/runtime/clock.hpp"
#include "handlers.hpp"
#include "rollup.hpp"

namespace cryptoflow::gateway::coingecko {

using detail::Writer;

Response error(int status, std::string_view message) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "error");
  detail::string(w, printable(message));  // it may echo what the client sent
  w.EndObject();
  return {status, detail::text(b)};
}

bool flag(const Request& r, const std::string& name) {
  return detail::param(r, name) == "true";
}

void number_or_null(Writer& w, const std::optional<Decimal>& d) {
  if (d)
    detail::decimal_number(w, *d);
  else
    w.Null();
}

// A coin's "id", "symbol" and "name", as coins/list and coins/markets give them.
void coin_names(Writer& w, const Ticker& t) {
  detail::key(w, "id");
  detail::string(w, t.coin);
  detail::key(w, "symbol");
  detail::string(w, t.symbol);
  detail::key(w, "name");
  detail::string(w, t.name);
}

// CoinGecko's answers for a currency it does not serve and a coin it does not know.
Response invalid_currency() {
  return error(400, "invalid vs_currency");
}
Response coin_not_found() {
  return error(404, "coin not found");
}

bool held_currency(const ApiContext& ctx, const std::string& vs) {
  const auto all = ctx.store.vs_currencies();
  return std::binary_search(all.begin(), all.end(), vs);
}

bool held_coin(const ApiContext& ctx, const std::string& coin) {
  const auto first = ctx.store.tickers_after(coin, "", 1);
  return !first.empty() && first.front().coin == coin;
}

Response supported_vs_currencies(const Request&, const ApiContext& ctx) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartArray();
  for (const auto& vs : ctx.store.vs_currencies()) detail::string(w, vs);
  w.EndArray();
  return {200, detail::text(b)};
}

Response coins_list(const Request& r, const ApiContext& ctx) {
  const bool platforms = flag(r, "include_platform");
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartArray();
  std::string last;
  for (const auto& t : ctx.store.tickers("")) {  // by coin, then currency
    if (t.coin == last) continue;
    last = t.coin;
    w.StartObject();
    coin_names(w, t);
    if (platforms) {  // contract addresses: not in CoinGecko's markets answer, so not known here
      detail::key(w, "platforms");
      w.StartObject();
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  return {200, detail::text(b)};
}

// `days`: a positive number of days (fractions allowed) or "max".
std::optional<double> days_param(const std::string& text) {
  if (text == "max") return 36'500.0;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || !(v > 0) || v > 36'500) return std::nullopt;
  return v;
}

// The coin and currency of a /coins/{id}/... call, checked as CoinGecko checks them; an error
// answer when they do not pass.
std::optional<Response> check_coin(const Request& r, const ApiContext& ctx, const std::string& coin) {
  if (detail::param(r, "vs_currency").empty()) return error(400, "Missing parameter vs_currency");
  if (!held_coin(ctx, coin)) return coin_not_found();
  if (!held_currency(ctx, detail::lower(detail::param(r, "vs_currency")))) return invalid_currency();
  return std::nullopt;
}

// market_chart's granularity (CoinGecko's rule): up to a day, 5-minutely; up to 90 days, hourly;
// beyond, daily. interval=daily asks for daily, interval=hourly for hourly.
Granularity chart_granularity(const std::string& interval, std::int64_t span_ms) {
  if (interval == "daily") return Granularity::daily;
  if (interval == "hourly") return Granularity::hourly;
  if (span_ms <= 86'400'000) return Granularity::five_minutes;
  if (span_ms <= 90 * 86'400'000LL) return Granularity::hourly;
  return Granularity::daily;
}

Response chart(const ApiContext& ctx, const std::string& coin, const std::string& vs, Granularity g, std::int64_t from,
               std::int64_t to) {
  // A bucket starting before `from` may hold points inside the range: its points are filtered by time.
  const auto buckets = ctx.store.ticker_history(coin, vs, g, from - TickerHistory::kStep[static_cast<int>(g)], to);
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  const auto series = [&](const char* name, auto value) {
    detail::key(w, name);
    w.StartArray();
    for (const auto& bucket : buckets) {
      if (bucket.time < from || bucket.time > to) continue;
      w.StartArray();
      w.Int64(bucket.time);
      if (const double v = value(bucket); std::isnan(v))
        w.Null();
      else
        w.Double(v);
      w.EndArray();
    }
    w.EndArray();
  };
  series("prices", [](const TickerBucket& x) { return x.close; });
  series("market_caps", [](const TickerBucket& x) { return x.market_cap; });
  series("total_volumes", [](const TickerBucket& x) { return x.volume; });
  w.EndObject();
  return {200, detail::text(b)};
}

Response market_chart(const Request& r, const ApiContext& ctx) {
  const auto& coin = r.params.at(0);
  if (auto e = check_coin(r, ctx, coin)) return *e;
  if (detail::param(r, "days").empty()) return error(400, "Missing parameter days");
  const auto days = days_param(detail::param(r, "days"));
  if (!days) return error(400, "invalid days: a positive number or max");
  const auto span = static_cast<std::int64_t>(*days * 86'400'000.0);
  return chart(ctx, coin, detail::lower(detail::param(r, "vs_currency")),
               chart_granularity(detail::param(r, "interval"), span), ctx.now_ms - span, ctx.now_ms);
}

Response market_chart_range(const Request& r, const ApiContext& ctx) {
  const auto& coin = r.params.at(0);
  if (auto e = check_coin(r, ctx, coin)) return *e;
  const auto seconds = [&](const char* name) -> std::optional<std::int64_t> {
    const auto text = detail::param(r, name);
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || !(v >= 0) || v > 1e11) return std::nullopt;
    return static_cast<std::int64_t>(std::llround(v * 1000));
  };
  for (const char* name : {"from", "to"})
    if (detail::param(r, name).empty()) return error(400, std::string("Missing parameter ") + name);
  const auto from = seconds("from"), to = seconds("to");
  if (!from || !to) return error(400, "from and to are UNIX times in seconds");
  return chart(ctx, coin, detail::lower(detail::param(r, "vs_currency")),
               chart_granularity(detail::param(r, "interval"), *to - *from), *from, *to);
}

// ohlc: CoinGecko's candle bodies by `days` (1/7/14/30/90/180/365/max): 1-2 days, 30 minutes
// (from the 5-minute buckets); 3-30 days, 4 hours (hourly buckets); beyond, 4 days (daily ones).
// Each candle is stamped with its close time, as CoinGecko stamps it.
Response ohlc(const Request& r, const ApiContext& ctx) {
  const auto& coin = r.params.at(0);
  if (auto e = check_coin(r, ctx, coin)) return *e;
  const auto text = detail::param(r, "days");
  if (text.empty()) return error(400, "Missing parameter days");
  static const std::vector<std::string> allowed{"1", "7", "14", "30", "90", "180", "365", "max"};
  if (std::find(allowed.begin(), allowed.end(), text) == allowed.end())
    return error(400, "invalid days: one of 1, 7, 14, 30, 90, 180, 365, max");
  const auto days = *days_param(text);
  const auto span = static_cast<std::int64_t>(days * 86'400'000.0);
  const auto [g, length] = days <= 2    ? std::pair{Granularity::five_minutes, std::int64_t{1'800'000}}
                           : days <= 30 ? std::pair{Granularity::hourly, std::int64_t{14'400'000}}
                                        : std::pair{Granularity::daily, std::int64_t{4 * 86'400'000LL}};
  const auto from = ctx.now_ms - span;
  const auto first = floor_to(from, length);  // the candle holding `from`
  const auto buckets =
      ctx.store.ticker_history(coin, detail::lower(detail::param(r, "vs_currency")), g, first, ctx.now_ms);
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartArray();
  for (std::size_t i = 0; i < buckets.size();) {
    const auto start = floor_to(buckets[i].start, length);
    double open = buckets[i].open, high = buckets[i].high, low = buckets[i].low, close = buckets[i].close;
    for (++i; i < buckets.size() && buckets[i].start < start + length; ++i) {
      high = std::max(high, buckets[i].high);
      low = std::min(low, buckets[i].low);
      close = buckets[i].close;
    }
    w.StartArray();
    w.Int64(start + length);
    for (const double v : {open, high, low, close}) w.Double(v);
    w.EndArray();
  }
  w.EndArray();
  return {200, detail::text(b)};
}

Response simple_price(const Request& r, const ApiContext& ctx) {
  const auto ids = detail::csv(detail::lower(detail::param(r, "ids")));
  const auto currencies = detail::csv(detail::lower(detail::param(r, "vs_currencies")));
  if (ids.empty()) return error(400, "Missing parameter ids");
  if (currencies.empty()) return error(400, "Missing parameter vs_currencies");
  if (ids.size() > 1000 || currencies.size() > 100) return error(400, "Too many ids or vs_currencies");
  const auto held = ctx.store.vs_currencies();
  if (std::none_of(currencies.begin(), currencies.end(),
                   [&](const auto& vs) { return std::binary_search(held.begin(), held.end(), vs); }))
    return invalid_currency();
  const bool cap = flag(r, "include_market_cap"), vol = flag(r, "include_24hr_vol"),
             change = flag(r, "include_24hr_change"), updated = flag(r, "include_last_updated_at");
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  for (const auto& id : ids) {
    std::vector<Ticker> found;
    for (const auto& vs : currencies)
      if (auto t = ctx.store.ticker(id, vs)) found.push_back(std::move(*t));
    if (found.empty()) continue;  // CoinGecko leaves unknown ids out
    detail::key(w, id);
    w.StartObject();
    std::int64_t last_updated = 0;
    for (const auto& t : found) {
      detail::key(w, t.vs_currency);
      number_or_null(w, t.price);
      if (cap) {
        detail::key(w, t.vs_currency + "_market_cap");
        number_or_null(w, t.market_cap);
      }
      if (vol) {
        detail::key(w, t.vs_currency + "_24h_vol");
        number_or_null(w, t.volume_24h);
      }
      if (change) {
        detail::key(w, t.vs_currency + "_24h_change");
        number_or_null(w, t.change_24h_pct);
      }
      last_updated = std::max(last_updated, t.last_updated);
    }
    if (updated) {
      detail::key(w, "last_updated_at");
      w.Int64(last_updated / 1000);
    }
    w.EndObject();
  }
  w.EndObject();
  return {200, detail::text(b)};
}

Response coins_markets(const Request& r, const ApiContext& ctx) {
  const auto vs = detail::lower(detail::param(r, "vs_currency"));
  if (vs.empty()) return error(400, "Missing parameter vs_currency");
  const auto per_page = detail::int_param(r, "per_page", 1, 250);
  const auto page = detail::int_param(r, "page", 1, 1'000'000);
  if (std::holds_alternative<detail::BadParameter>(per_page)) return error(400, "per_page must be 1..250");
  if (std::holds_alternative<detail::BadParameter>(page)) return error(400, "page must be a positive integer");
  const auto order = detail::param(r, "order").empty() ? std::string("market_cap_desc") : detail::param(r, "order");
  static const std::vector<std::string> orders{"market_cap_desc", "market_cap_asc", "volume_desc",
                                               "volume_asc",      "id_asc",         "id_desc"};
  if (std::find(orders.begin(), orders.end(), order) == orders.end()) return error(400, "invalid order: " + order);
  if (!held_currency(ctx, vs)) return invalid_currency();

  auto all = ctx.store.tickers(vs);
  // market_cap_rank: the place by market cap among every coin held for this currency.
  const auto by_cap = [](const Ticker& a, const Ticker& b) {
    const auto ca = a.market_cap.value_or(Decimal{}), cb = b.market_cap.value_or(Decimal{});
    return ca != cb ? ca > cb : a.coin < b.coin;
  };
  std::sort(all.begin(), all.end(), by_cap);
  std::map<std::string, std::size_t> rank;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (all[i].market_cap && !all[i].market_cap->is_zero()) rank[all[i].coin] = i + 1;
  if (const auto ids = detail::param(r, "ids"); !ids.empty()) {
    const auto wanted = detail::csv(detail::lower(ids));
    std::erase_if(all,
                  [&](const Ticker& t) { return std::find(wanted.begin(), wanted.end(), t.coin) == wanted.end(); });
  }
  const auto by = [&](auto field, bool descending) {
    std::stable_sort(all.begin(), all.end(), [&](const Ticker& a, const Ticker& b) {
      const auto x = field(a), y = field(b);
      return descending ? x > y : x < y;
    });
  };
  if (order == "market_cap_asc") by([](const Ticker& t) { return t.market_cap.value_or(Decimal{}); }, false);
  if (order == "volume_desc") by([](const Ticker& t) { return t.volume_24h.value_or(Decimal{}); }, true);
  if (order == "volume_asc") by([](const Ticker& t) { return t.volume_24h.value_or(Decimal{}); }, false);
  if (order == "id_asc") by([](const Ticker& t) { return t.coin; }, false);
  if (order == "id_desc") by([](const Ticker& t) { return t.coin; }, true);

  const auto size = static_cast<std::size_t>(std::get<0>(per_page).value_or(100));
  const auto first = (static_cast<std::size_t>(std::get<0>(page).value_or(1)) - 1) * size;
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartArray();
  for (std::size_t i = first; i < all.size() && i < first + size; ++i) {
    const auto& t = all[i];
    w.StartObject();
    coin_names(w, t);
    detail::key(w, "current_price");
    number_or_null(w, t.price);
    detail::key(w, "market_cap");
    number_or_null(w, t.market_cap);
    detail::key(w, "market_cap_rank");
    if (const auto it = rank.find(t.coin); it != rank.end())
      w.Uint64(it->second);
    else
      w.Null();
    detail::key(w, "total_volume");
    number_or_null(w, t.volume_24h);
    detail::key(w, "high_24h");
    number_or_null(w, t.high_24h);
    detail::key(w, "low_24h");
    number_or_null(w, t.low_24h);
    detail::key(w, "price_change_percentage_24h");
    number_or_null(w, t.change_24h_pct);
    detail::key(w, "last_updated");
    detail::string(w, format_iso8601_ms(t.last_updated));
    w.EndObject();
  }
  w.EndArray();
  return {200, detail::text(b)};
}

Response ping(const Request&, const ApiContext&) {
  return {200, R"({"gecko_says":"(V3) To the Moon!"})"};
}

Response not_found(std::string_view path) {
  return error(404, "Not served by cryptoflow's gateway: " + std::string(path));
}

}  // namespace cryptoflow::gateway::coingecko
