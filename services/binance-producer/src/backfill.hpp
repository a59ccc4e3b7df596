#pragma once
// Gap backfill over Binance's REST API: the trades of one symbol from an id on, in pages of at
// most 1000 (GET /api/v3/historicalTrades?symbol=&fromId=&limit= for the trade stream,
// /api/v3/aggTrades?symbol=&fromId=&limit= for aggTrade).
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow::binance {

inline constexpr int kBackfillPage = 1000;

// Parses a REST answer (a JSON array) into trades of `symbol`; received_ms goes to received_time.
// Returns false and sets error for anything but an array of well-formed trades.
bool parse_rest_trades(std::string_view body, bool agg, const std::string& symbol, std::int64_t received_ms,
                       std::vector<Trade>& out, std::string& error);

struct RestAnswer {
  int status = 0;  // 0: no answer (connection failed)
  std::string body;
  std::chrono::milliseconds retry_after{0};
};
using RestGet = std::function<RestAnswer(const std::string& url)>;

struct BackfillResult {
  std::vector<Trade> trades;  // ids from..to that the exchange returned, in id order, no duplicates
  std::int64_t missing = 0;   // ids in from..to it did not return
  std::string error;          // why, when missing > 0
  // The exchange answered that it has no trade from some id of the range on: ids up to `to`
  // do not exist (yet), so a trade claiming id to + 1 is not one of its trades.
  bool past_exchange_end = false;
};

// Fetches ids [from, to] of symbol (at most max_pages pages: of a longer gap, the newest ids,
// which the open windows need; retries 429/418/5xx up to 3 times, honouring Retry-After). `sleep` waits (a parameter so
// tests need not).
// api_root: "https://api.binance.com/api/v3" or "https://fapi.binance.com/fapi/v1".
BackfillResult backfill(const RestGet& get, const std::string& api_root, bool agg, const std::string& symbol,
                        std::int64_t from, std::int64_t to, std::int64_t now_ms,
                        const std::function<void(std::chrono::milliseconds)>& sleep, int max_pages = 50);

}  // namespace cryptoflow::binance
