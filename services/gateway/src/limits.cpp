#include "limits.hpp"

#include <algorithm>
#include <cstdlib>

#include "routes.hpp"

namespace cryptoflow::gateway {

int request_weight(const Request& r) {
  const auto match = match_route(r.path);
  return match ? route_weight(*match->route, r) : 1;
}

WeightLimiter::Decision WeightLimiter::charge(const std::string& client, int weight, Clock::time_point now,
                                              std::int64_t wall_ms) {
  Decision d;
  if (o_.per_minute <= 0) return d;
  const auto minute = std::chrono::duration_cast<std::chrono::minutes>(now.time_since_epoch()).count();
  if (clients_.size() > 100'000)  // forget whoever is neither counted this minute nor banned
    std::erase_if(clients_, [&](const auto& c) { return c.second.minute < minute && c.second.banned_until <= now; });
  auto& c = clients_[client];
  if (c.minute != minute) {
    c.minute = minute;
    c.used = 0;
    c.ignored = 0;
  }
  d.used = c.used;
  const auto seconds_left = [](Clock::duration left) {
    return std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(left).count());
  };
  if (c.banned_until > now) {
    d.status = 418;
    d.retry_after_s = seconds_left(c.banned_until - now);
    d.banned_until_ms = wall_ms + std::chrono::duration_cast<std::chrono::milliseconds>(c.banned_until - now).count();
    return d;
  }
  if (c.used + weight <= o_.per_minute) {
    c.used += weight;
    d.used = c.used;
    return d;
  }
  const auto next_minute = Clock::time_point(std::chrono::minutes(minute + 1));
  if (++c.ignored > o_.ignored_429s) {
    const auto ban =
        std::min<std::chrono::seconds>(o_.ban * (std::int64_t{1} << std::min(c.bans, 11)), std::chrono::hours(72));
    ++c.bans;
    c.ignored = 0;
    c.banned_until = now + ban;
    d.status = 418;
    d.retry_after_s = seconds_left(ban);
    d.banned_until_ms = wall_ms + std::chrono::duration_cast<std::chrono::milliseconds>(ban).count();
    return d;
  }
  d.status = 429;
  d.retry_after_s = seconds_left(next_minute - now);
  return d;
}

std::string client_address(const std::string& peer, std::string_view forwarded_for,
                           const std::vector<std::string>& trusted) {
  const auto is_trusted = [&](std::string_view a) {
    return std::find(trusted.begin(), trusted.end(), a) != trusted.end();
  };
  if (forwarded_for.empty() || !is_trusted(peer)) return peer;
  // "client, proxy1, proxy2": the proxies append; the right-most untrusted one is who reached ours.
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    auto item = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.empty() || item.size() > 64) return peer;  // not an address: the proxy is who we know
    if (!is_trusted(item)) return std::string(item);
  }
  return peer;
}

}  // namespace cryptoflow::gateway
