#pragma once
// What one client may take of the gateway, as plain functions and classes (no sockets, an
// injected clock), so each limit is tested on its own:
//   request_weight    Binance's REQUEST_WEIGHT of a call (every path has one)
//   WeightLimiter     the weight an address may use per minute: 429 past it, 418 (a ban) for a
//                     client that keeps calling after its 429s, as Binance does
//   client_address    who a request is from: the peer, or X-Forwarded-For from a trusted proxy
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api.hpp"

namespace cryptoflow::gateway {

// The route's weight (routes.cpp: Binance's for its REST calls, as its spot API documents them;
// 1 for the CoinGecko and native calls, the streams and the page's files).
int request_weight(const Request& r);

struct WeightOptions {
  std::int64_t per_minute = 6000;  // Binance's REQUEST_WEIGHT limit; 0: no limit
  // Requests made while limited, within one minute, that earn a ban (418) - Binance bans "IPs
  // that keep sending after a 429"; the ban starts at `ban` and doubles for each ban, up to 3 days.
  int ignored_429s = 20;
  std::chrono::seconds ban{120};
};

class WeightLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit WeightLimiter(WeightOptions o) : o_(o) {}

  struct Decision {
    int status = 200;                  // 200, 429 or 418
    std::int64_t used = 0;             // weight used this minute (X-MBX-USED-WEIGHT-1M)
    std::int64_t retry_after_s = 0;    // for 429 and 418
    std::int64_t banned_until_ms = 0;  // 418: wall-clock ms (Binance's message names it)
  };
  // Charges the weight to the client when it is within its budget.
  Decision charge(const std::string& client, int weight, Clock::time_point now, std::int64_t wall_ms);
  [[nodiscard]] std::size_t clients() const { return clients_.size(); }
  [[nodiscard]] const WeightOptions& options() const { return o_; }

 private:
  struct Client {
    std::int64_t minute = 0;  // which minute `used` counts (steady clock minutes)
    std::int64_t used = 0;
    int ignored = 0;  // requests refused this minute
    int bans = 0;
    Clock::time_point banned_until{};
  };
  WeightOptions o_;
  std::unordered_map<std::string, Client> clients_;
};

// The address a request is from. The peer, unless the peer is one of `trusted` (a proxy in
// front of the gateway): then the right-most X-Forwarded-For address that is not a trusted proxy.
std::string client_address(const std::string& peer, std::string_view forwarded_for,
                           const std::vector<std::string>& trusted);

}  // namespace cryptoflow::gateway
