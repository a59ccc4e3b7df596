#pragma once
// Binance's WebSocket stream names (https://developers.binance.com/docs/binance-spot-api-docs/
// web-socket-streams) the gateway serves: <symbol>@kline_<interval> (every Binance interval),
// <symbol>@trade, <symbol>@aggTrade, <symbol>@ticker, <symbol>@miniTicker, <symbol>@avgPrice,
// !ticker@arr and !miniTicker@arr; the books' <symbol>@depth[@100ms], <symbol>@depth<5|10|20>[@100ms]
// and <symbol>@bookTicker. Symbols are lower case in names, upper case elsewhere.
#include <optional>
#include <string>
#include <string_view>

namespace cryptoflow::gateway {

enum class StreamKind {
  kline,
  trade,
  agg_trade,
  ticker,
  mini_ticker,
  avg_price,
  all_tickers,
  all_mini_tickers,
  depth,        // <symbol>@depth[@100ms] (levels 0: diffs) or @depth<5|10|20>[@100ms] (a partial book)
  book_ticker,  // <symbol>@bookTicker
};

struct StreamName {
  StreamKind kind = StreamKind::kline;
  std::string symbol;    // upper case; empty for the !...@arr streams
  std::string interval;  // kline
  int levels = 0;        // depth: 0 (diffs), 5, 10 or 20
  bool fast = false;     // depth: @100ms (else every 1000 ms)
};

// The stream a name is, or why it is not one served.
struct ParsedStream {
  std::optional<StreamName> stream;
  std::string why;
};
ParsedStream parse_stream(std::string_view name);

// "<symbol lower case>@<suffix>".
std::string stream_name(std::string_view symbol, std::string_view suffix);

}  // namespace cryptoflow::gateway
