#include "history.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace cryptoflow::gateway {
namespace {

constexpr const char* kFields[] = {"open", "high",   "low",  "close", "volume", "quote_volume", "taker_buy_volume",
                                   "vwap", "trades", "final"};

std::string literal(std::string_view s) {  // an InfluxQL string literal
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// InfluxDB prints a float as Go does: 0.00152787, or 1e-07 past six zeros. Plain digits back.
std::optional<Decimal> decimal_of(std::string_view text) {
  const auto e = text.find_first_of("eE");
  if (e == std::string_view::npos) return Decimal::parse(text);
  int exponent = 0;
  const auto exp_text = text.substr(e + 1 + (text[e + 1] == '+' ? 1 : 0));
  const auto [p, ec] = std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exponent);
  if (ec != std::errc() || p != exp_text.data() + exp_text.size() || exponent < -40 || exponent > 40)
    return std::nullopt;
  auto mantissa = std::string(text.substr(0, e));
  const bool negative = !mantissa.empty() && mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  auto dot = mantissa.find('.');
  if (dot == std::string::npos) dot = mantissa.size();
  std::string digits = mantissa.substr(0, dot) + (dot < mantissa.size() ? mantissa.substr(dot + 1) : "");
  auto point = static_cast<int>(dot) + exponent;  // digits before the decimal point
  if (point <= 0) {
    digits.insert(0, static_cast<std::size_t>(-point) + 1, '0');
    point = 1;
  }
  if (point >= static_cast<int>(digits.size())) digits.append(static_cast<std::size_t>(point) - digits.size(), '0');
  std::string plain = (negative ? "-" : "") + digits.substr(0, static_cast<std::size_t>(point));
  if (static_cast<std::size_t>(point) < digits.size()) plain += "." + digits.substr(static_cast<std::size_t>(point));
  return Decimal::parse(plain);
}

}  // namespace

std::string influxql_for(const CandleQuery& q) {
  std::string s = "SELECT ";
  for (const auto* f : kFields) s.append("\"").append(f).append("\",");
  s += "\"taker_buy_quote_volume\"";  // optional: older points have none
  s += " FROM \"candle\" WHERE \"symbol\" = " + literal(q.symbol) + " AND \"interval\" = " + literal(q.interval);
  if (q.start) s += " AND time >= " + std::to_string(*q.start) + "ms";
  if (q.end) s += " AND time <= " + std::to_string(*q.end) + "ms";
  // Without a start: the last `limit` up to end, newest first here, put back in order after.
  s += q.start ? " ORDER BY time ASC" : " ORDER BY time DESC";
  s += " LIMIT " + std::to_string(std::min<std::size_t>(q.limit, 100'000));
  return s;
}

std::vector<Candle> candles_from_influx(std::string_view body, const CandleQuery& q) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseNumbersAsStringsFlag>(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject()) throw std::runtime_error("InfluxDB's answer is not JSON");
  if (d.HasMember("error") && d["error"].IsString())
    throw std::runtime_error(std::string("InfluxDB: ") + d["error"].GetString());
  if (!d.HasMember("results") || !d["results"].IsArray() || d["results"].Empty())
    throw std::runtime_error("InfluxDB's answer has no results");
  const auto& result = d["results"][0];
  if (result.HasMember("error") && result["error"].IsString())
    throw std::runtime_error(std::string("InfluxDB: ") + result["error"].GetString());
  std::vector<Candle> out;
  if (!result.HasMember("series")) return out;  // nothing in that range
  const auto step = interval_ms(q.interval);
  for (const auto& series : result["series"].GetArray()) {
    const auto& columns = series["columns"];
    std::map<std::string, rapidjson::SizeType> at;
    for (rapidjson::SizeType i = 0; i < columns.Size(); ++i) at[columns[i].GetString()] = i;
    for (const auto* f : kFields)
      if (!at.contains(f)) throw std::runtime_error(std::string("InfluxDB's candle has no field ") + f);
    for (const auto& row : series["values"].GetArray()) {
      const auto text = [&](const char* name) -> std::string_view {
        const auto& v = row[at.at(name)];
        return v.IsString() ? std::string_view(v.GetString(), v.GetStringLength()) : std::string_view();
      };
      const auto number = [&](const char* name) {
        auto value = decimal_of(text(name));
        if (!value) throw std::runtime_error(std::string("InfluxDB's candle field is not a number: ") + name);
        return *value;
      };
      Candle c;
      c.source = "binance";
      c.symbol = q.symbol;
      c.interval = q.interval;
      const auto t = text("time");
      if (std::from_chars(t.data(), t.data() + t.size(), c.start).ec != std::errc())
        throw std::runtime_error("InfluxDB's time is not in ms (epoch=ms)");
      c.end = c.start + step;
      c.open = number("open");
      c.high = number("high");
      c.low = number("low");
      c.close = number("close");
      c.volume = number("volume");
      c.quote_volume = number("quote_volume");
      c.taker_buy_volume = number("taker_buy_volume");
      // Points written before the field existed have none (null): 0, as the topic's records.
      if (at.contains("taker_buy_quote_volume") && !text("taker_buy_quote_volume").empty())
        c.taker_buy_quote_volume = number("taker_buy_quote_volume");
      c.vwap = number("vwap");
      const auto trades = text("trades");
      std::from_chars(trades.data(), trades.data() + trades.size(), c.trades);
      const auto& final = row[at.at("final")];
      c.final = final.IsBool() && final.GetBool();
      out.push_back(std::move(c));
    }
  }
  std::sort(out.begin(), out.end(), [](const Candle& a, const Candle& b) { return a.start < b.start; });
  out.erase(std::unique(out.begin(), out.end(), [](const Candle& a, const Candle& b) { return a.start == b.start; }),
            out.end());
  return out;
}

InfluxHistory::InfluxHistory(InfluxHistoryOptions options)
    : o_(std::move(options)), http_(HttpOptions{.connect_timeout = o_.timeout, .total_timeout = o_.timeout}) {
  while (!o_.url.empty() && o_.url.back() == '/') o_.url.pop_back();
  if (o_.api == "v2") {
    if (!o_.token.empty()) headers_.push_back("Authorization: Token " + o_.token);
  } else if (!o_.username.empty()) {
    headers_.push_back("Authorization: Basic " + base64(o_.username + ":" + o_.password));
  }
}

std::vector<Candle> InfluxHistory::candles(const CandleQuery& q) {
  const auto& db = o_.api == "v2" ? o_.bucket : o_.db;
  const auto url = o_.url + "/query?epoch=ms&db=" + http_.escape(db) + "&q=" + http_.escape(influxql_for(q));
  const auto r = http_.get(url, headers_);
  if (!r.error.empty()) throw std::runtime_error("InfluxDB did not answer: " + r.error);
  if (r.status != 200 && r.body.find("\"error\"") == std::string::npos)
    throw std::runtime_error("InfluxDB answered HTTP " + std::to_string(r.status));
  return candles_from_influx(r.body, q);
}

}  // namespace cryptoflow::gateway
