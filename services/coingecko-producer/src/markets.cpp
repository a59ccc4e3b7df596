#include "markets.hpp"

#include <rapidjson/document.h>

#include <ctime>

namespace cryptoflow::coingecko {
namespace {

using Value = rapidjson::Value;

// Numbers arrive as their source text (kParseNumbersAsStringsFlag).
std::optional<Decimal> number(const Value& coin, const char* name, std::string& error) {
  auto it = coin.FindMember(name);
  if (it == coin.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (it->value.IsString()) {
    if (auto d = Decimal::parse(std::string_view(it->value.GetString(), it->value.GetStringLength()))) return d;
  }
  error = std::string("field '") + name + "': not a number";
  return std::nullopt;
}

std::string text(const Value& coin, const char* name) {
  auto it = coin.FindMember(name);
  return it != coin.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string();
}

}  // namespace

std::optional<std::int64_t> parse_iso8601_ms(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fff...]Z
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s.back() != 'Z')
    return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) -> int {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
      tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
    return std::nullopt;
  int millis = 0;
  if (s[19] == '.') {
    int digits = 0;
    for (std::size_t i = 20; i + 1 < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      if (digits < 3) millis = millis * 10 + (s[i] - '0');
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) millis *= 10;
  } else if (s.size() != 20) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + millis;
}

MarketsParse parse_markets(std::string_view body, const std::string& vs_currency, std::int64_t received_ms) {
  MarketsParse out;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (d.HasParseError()) {
    out.error = "not JSON (offset " + std::to_string(d.GetErrorOffset()) +
                "): " + std::string(body.substr(0, std::min<std::size_t>(body.size(), 60)));
    return out;
  }
  if (!d.IsArray()) {
    out.error = "answer is not a JSON array";
    return out;
  }
  out.tickers.reserve(d.Size());
  for (const auto& coin : d.GetArray()) {
    std::string error;
    Ticker t;
    if (!coin.IsObject()) {
      error = "entry is not an object";
    } else {
      t.source = "coingecko";
      t.coin = text(coin, "id");
      t.symbol = text(coin, "symbol");
      t.name = text(coin, "name");
      t.vs_currency = vs_currency;
      t.price = number(coin, "current_price", error);
      t.market_cap = number(coin, "market_cap", error);
      t.volume_24h = number(coin, "total_volume", error);
      t.change_24h_pct = number(coin, "price_change_percentage_24h", error);
      t.high_24h = number(coin, "high_24h", error);
      t.low_24h = number(coin, "low_24h", error);
      t.received_time = received_ms;
      const auto updated = text(coin, "last_updated");
      if (t.coin.empty()) {
        error = "field 'id': missing";
      } else if (auto ms = parse_iso8601_ms(updated)) {
        t.last_updated = *ms;
      } else {
        error = "field 'last_updated': missing or not an ISO 8601 time";
      }
    }
    if (!error.empty()) {
      if (out.skipped++ == 0) out.first_skip = (t.coin.empty() ? "" : t.coin + ": ") + error;
      continue;
    }
    out.tickers.push_back(std::move(t));
  }
  return out;
}

std::optional<ApiError> parse_api_error(std::string_view body) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject()) return std::nullopt;
  ApiError e;
  if (auto st = d.FindMember("status"); st != d.MemberEnd() && st->value.IsObject()) {
    if (auto c = st->value.FindMember("error_code"); c != st->value.MemberEnd() && c->value.IsInt())
      e.code = c->value.GetInt();
    if (auto m = st->value.FindMember("error_message"); m != st->value.MemberEnd() && m->value.IsString())
      e.message = m->value.GetString();
    return e;
  }
  if (auto m = d.FindMember("error"); m != d.MemberEnd()) {
    if (m->value.IsString()) e.message = m->value.GetString();
    if (m->value.IsObject())
      if (auto c = m->value.FindMember("status"); c != m->value.MemberEnd() && c->value.IsObject())
        if (auto code = c->value.FindMember("error_code"); code != c->value.MemberEnd() && code->value.IsInt())
          e.code = code->value.GetInt();
    return e;
  }
  return std::nullopt;
}

}  // namespace cryptoflow::coingecko
