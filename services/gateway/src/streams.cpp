#include "streams.hpp"

#include <array>
#include <utility>

#include "store.hpp"

namespace cryptoflow::gateway {

ParsedStream parse_stream(std::string_view name) {
  if (name == "!ticker@arr") return {StreamName{StreamKind::all_tickers, "", ""}, ""};
  if (name == "!miniTicker@arr") return {StreamName{StreamKind::all_mini_tickers, "", ""}, ""};
  const auto at = name.find('@');
  if (at == std::string_view::npos || at == 0)
    return {std::nullopt, "a stream is <symbol>@<kind> or !ticker@arr / !miniTicker@arr: " + std::string(name)};
  std::string symbol;
  for (const char c : name.substr(0, at)) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
      return {std::nullopt, "a stream's symbol is lower-case letters and digits: " + std::string(name)};
    symbol.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  const auto kind = name.substr(at + 1);
  if (kind.starts_with("kline_")) {
    const auto interval = kind.substr(6);
    if (interval_ms(interval) == 0) return {std::nullopt, "not a Binance interval: " + std::string(name)};
    return {StreamName{StreamKind::kline, symbol, std::string(interval)}, ""};
  }
  if (kind == "bookTicker") return {StreamName{StreamKind::book_ticker, symbol, ""}, ""};
  if (kind.starts_with("depth")) {
    auto rest = kind.substr(5);
    StreamName s{StreamKind::depth, symbol, ""};
    if (rest.ends_with("@100ms")) {
      s.fast = true;
      rest.remove_suffix(6);
    }
    if (rest == "5" || rest == "10" || rest == "20") {
      s.levels = rest == "5" ? 5 : (rest == "10" ? 10 : 20);
    } else if (!rest.empty()) {
      return {std::nullopt, "depth streams: @depth, @depth@100ms, @depth<5|10|20>[@100ms]; not " + std::string(name)};
    }
    return {s, ""};
  }
  static constexpr std::array<std::pair<std::string_view, StreamKind>, 5> kinds{{
      {"trade", StreamKind::trade},
      {"aggTrade", StreamKind::agg_trade},
      {"ticker", StreamKind::ticker},
      {"miniTicker", StreamKind::mini_ticker},
      {"avgPrice", StreamKind::avg_price},
  }};
  for (const auto& [text, k] : kinds)
    if (kind == text) return {StreamName{k, symbol, ""}, ""};
  return {std::nullopt,
          "streams served: @kline_<interval>, @trade, @aggTrade, @ticker, @miniTicker, @avgPrice, @depth[<5|10|20>]"
          "[@100ms], @bookTicker, !ticker@arr, !miniTicker@arr; not " +
              std::string(name)};
}

std::string stream_name(std::string_view symbol, std::string_view suffix) {
  std::string out;
  out.reserve(symbol.size() + suffix.size() + 1);
  for (const char c : symbol) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  return out.append("@").append(suffix);
}

}  // namespace cryptoflow::gateway
