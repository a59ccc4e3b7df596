#include "backfill.hpp"

#include <rapidjson/document.h>

#include "frame_decoder.hpp"

namespace cryptoflow::binance {
namespace {

bool field_i64(const rapidjson::Value& o, const char* k, std::int64_t& v) {
  auto it = o.FindMember(k);
  if (it == o.MemberEnd() || !it->value.IsInt64() || it->value.GetInt64() < 0) return false;
  v = it->value.GetInt64();
  return true;
}

bool field_dec(const rapidjson::Value& o, const char* k, Decimal& v) {
  auto it = o.FindMember(k);
  if (it == o.MemberEnd() || !it->value.IsString()) return false;
  auto d = Decimal::parse(std::string_view(it->value.GetString(), it->value.GetStringLength()));
  if (!d) return false;
  v = *d;
  return true;
}

bool field_bool(const rapidjson::Value& o, const char* k, bool& v) {
  auto it = o.FindMember(k);
  if (it == o.MemberEnd() || !it->value.IsBool()) return false;
  v = it->value.GetBool();
  return true;
}

}  // namespace

bool parse_rest_trades(std::string_view body, bool agg, const std::string& symbol, std::int64_t received_ms,
                       std::vector<Trade>& out, std::string& error) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (d.HasParseError() || !d.IsArray()) {
    error = d.HasParseError() ? "malformed JSON at offset " + std::to_string(d.GetErrorOffset()) : "not a JSON array";
    return false;
  }
  for (const auto& o : d.GetArray()) {
    if (!o.IsObject()) {
      error = "an element is not an object";
      return false;
    }
    Trade t;
    t.source = "binance";
    t.symbol = symbol;
    std::int64_t time = 0;
    bool ok = field_i64(o, agg ? "a" : "id", t.trade_id) && field_dec(o, agg ? "p" : "price", t.price) &&
              field_dec(o, agg ? "q" : "qty", t.quantity) && field_i64(o, agg ? "T" : "time", time) &&
              field_bool(o, agg ? "m" : "isBuyerMaker", t.buyer_is_maker);
    if (ok && agg) {
      std::int64_t f = 0, l = 0;
      ok = field_i64(o, "f", f) && field_i64(o, "l", l);
      t.first_trade_id = f;
      t.last_trade_id = l;
    }
    if (!ok) {
      error = "a trade has a missing or ill-typed field";
      return false;
    }
    t.trade_time = t.event_time = to_millis(time);
    t.received_time = received_ms;
    if (auto e = check_trade(t); !e.empty()) {
      error = e;
      return false;
    }
    out.push_back(std::move(t));
  }
  return true;
}

BackfillResult backfill(const RestGet& get, const std::string& api_root, bool agg, const std::string& symbol,
                        std::int64_t from, std::int64_t to, std::int64_t now_ms,
                        const std::function<void(std::chrono::milliseconds)>& sleep, int max_pages) {
  BackfillResult r;
  const std::int64_t most = static_cast<std::int64_t>(std::max(max_pages, 0)) * kBackfillPage;
  std::int64_t next = to - from + 1 > most ? to - most + 1 : from;
  for (int page = 0; page < max_pages && next <= to; ++page) {
    const auto limit = std::min<std::int64_t>(kBackfillPage, to - next + 1);
    const auto url = api_root + (agg ? "/aggTrades" : "/historicalTrades") + "?symbol=" + symbol +
                     "&fromId=" + std::to_string(next) + "&limit=" + std::to_string(limit);
    RestAnswer a;
    for (int attempt = 0; attempt < 4; ++attempt) {
      a = get(url);
      const bool retry = a.status == 0 || a.status == 429 || a.status == 418 || a.status >= 500;
      if (!retry) break;
      if (attempt < 3) sleep(a.retry_after.count() > 0 ? a.retry_after : std::chrono::milliseconds(500 << attempt));
    }
    if (a.status != 200) {
      r.error = "GET " + url + ": " + (a.status ? "HTTP " + std::to_string(a.status) : std::string("no answer"));
      break;
    }
    std::vector<Trade> got;
    if (!parse_rest_trades(a.body, agg, symbol, now_ms, got, r.error)) {
      r.error = "GET " + url + ": " + r.error;
      break;
    }
    bool progressed = false;
    for (auto& t : got) {
      if (t.trade_id < next || t.trade_id > to) continue;  // already have it, or newer than the gap
      next = t.trade_id + 1;
      r.trades.push_back(std::move(t));
      progressed = true;
    }
    if (!progressed) {
      r.past_exchange_end = got.empty() || got.back().trade_id < next;
      r.error = "the exchange returned no trades from id " + std::to_string(next);
      break;
    }
  }
  r.missing = to - from + 1 - static_cast<std::int64_t>(r.trades.size());
  if (r.missing > 0 && r.error.empty())
    r.error =
        "the gap is longer than the backfill limit of " + std::to_string(most) + " trades; its newest were fetched";
  return r;
}

}  // namespace cryptoflow::binance
