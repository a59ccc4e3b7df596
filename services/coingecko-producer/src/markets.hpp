#pragma once
// Parses CoinGecko's /coins/markets answer into ticker messages. Numbers keep their exact
// digits (read as text, including exponent forms such as 3.2014e-8); nulls and missing
// numbers become null fields; a coin without an id or a last_updated time is skipped and
// counted. An answer that is not a JSON array (HTML error page, truncated JSON) is an error.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow::coingecko {

struct MarketsParse {
  std::vector<Ticker> tickers;
  int skipped = 0;         // coins that could not be turned into a ticker
  std::string first_skip;  // why the first one was skipped
  std::string error;       // the whole answer is unusable
};

MarketsParse parse_markets(std::string_view body, const std::string& vs_currency, std::int64_t received_ms);

// CoinGecko's error body {"status":{"error_code":10010,"error_message":"..."}} (or {"error":..}).
struct ApiError {
  int code = 0;
  std::string message;
};
std::optional<ApiError> parse_api_error(std::string_view body);

// "2023-01-08T16:49:40.132Z" -> ms since the epoch; nullopt if not that form.
std::optional<std::int64_t> parse_iso8601_ms(std::string_view text);

}  // namespace cryptoflow::coingecko
