// CoinGecko's /simple/price and /coins/markets (https://docs.coingecko.com/reference), served
// from crypto.tickers: numbers are written with the digits the producer received.
#include <algorithm>

#include "api.hpp"
#include "api_detail.hpp"
#include "cryptoflow/clock.hpp"

namespace cryptoflow::gateway {
namespace {

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

Response simple_price(const Request& r, const ApiContext& ctx) {
  const auto ids = detail::csv(detail::lower(detail::param(r, "ids")));
  const auto currencies = detail::csv(detail::lower(detail::param(r, "vs_currencies")));
  if (ids.empty()) return error(400, "Missing parameter ids");
  if (currencies.empty()) return error(400, "Missing parameter vs_currencies");
  if (ids.size() > 1000 || currencies.size() > 100) return error(400, "Too many ids or vs_currencies");
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
    detail::key(w, "id");
    detail::string(w, t.coin);
    detail::key(w, "symbol");
    detail::string(w, t.symbol);
    detail::key(w, "name");
    detail::string(w, t.name);
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
    detail::key(w, "price_change_percentage_24h");
    number_or_null(w, t.change_24h_pct);
    detail::key(w, "last_updated");
    detail::string(w, format_iso8601_ms(t.last_updated));
    w.EndObject();
  }
  w.EndArray();
  return {200, detail::text(b)};
}

}  // namespace

Response coingecko_api(const Request& request, std::string_view path, const ApiContext& context) {
  if (path == "/api/v3/simple/price") return simple_price(request, context);
  if (path == "/api/v3/coins/markets") return coins_markets(request, context);
  if (path == "/api/v3/ping") return {200, R"({"gecko_says":"(V3) To the Moon!"})"};
  return error(404, "Not served by cryptoflow's gateway: " + std::string(path));
}

}  // namespace cryptoflow::gateway
