#include "live_plan.hpp"

#include <algorithm>
#include <cctype>

#include "cryptoflow/config.hpp"

namespace cryptoflow::binance {

std::vector<std::string> stream_urls(const std::string& base, const std::vector<std::string>& symbols,
                                     const std::string& stream, std::size_t per_connection) {
  std::vector<std::string> names;
  for (const auto& s : symbols) {
    if (s.empty() || s.size() > 32 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
      throw ConfigError("BINANCE_SYMBOLS: '" + s + "' is not a symbol (letters and digits)");
    std::string lower = s;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    names.push_back(lower + "@" + stream);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string root = base;
  while (!root.empty() && root.back() == '/') root.pop_back();
  std::vector<std::string> urls;
  for (std::size_t i = 0; i < names.size(); i += per_connection) {
    std::string url = root + "/stream?streams=";
    for (std::size_t k = i; k < std::min(names.size(), i + per_connection); ++k) {
      if (k > i) url += '/';
      url += names[k];
    }
    urls.push_back(std::move(url));
  }
  return urls;
}

ParsedUrl parse_url(const std::string& url, const std::string& variable) {
  ParsedUrl p;
  std::string rest;
  for (const auto& [scheme, tls, port] : {std::tuple{"wss://", true, "443"}, std::tuple{"https://", true, "443"},
                                          std::tuple{"ws://", false, "80"}, std::tuple{"http://", false, "80"}}) {
    if (url.rfind(scheme, 0) == 0) {
      p.tls = tls;
      p.port = port;
      rest = url.substr(std::string(scheme).size());
      break;
    }
  }
  if (rest.empty()) throw ConfigError(variable + "='" + url + "' is not a ws(s):// or http(s):// URL");
  const auto slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  p.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (p.target[0] == '?') p.target = "/" + p.target;
  if (const auto colon = authority.rfind(':'); colon != std::string::npos && authority.find(']') == std::string::npos) {
    p.port = authority.substr(colon + 1);
    authority.resize(colon);
    if (p.port.empty() || !std::all_of(p.port.begin(), p.port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      throw ConfigError(variable + "='" + url + "' has a bad port");
  }
  if (authority.empty()) throw ConfigError(variable + "='" + url + "' has no host");
  p.host = authority;
  return p;
}

GapTracker::Result GapTracker::check(const std::string& symbol, std::int64_t id) const {
  auto it = last_.find(symbol);
  if (it == last_.end()) return {Verdict::first};
  if (id <= it->second) return {Verdict::duplicate};
  if (id == it->second + 1) return {Verdict::in_order};
  return {Verdict::gap, it->second + 1, id - 1};
}

void GapTracker::published(const std::string& symbol, std::int64_t id) {
  auto [it, fresh] = last_.try_emplace(symbol, id);
  if (!fresh) it->second = std::max(it->second, id);
}

std::optional<std::int64_t> GapTracker::last(const std::string& symbol) const {
  auto it = last_.find(symbol);
  if (it == last_.end()) return std::nullopt;
  return it->second;
}

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed)
    : initial_(initial), max_(max), rng_(seed) {}

std::chrono::milliseconds Backoff::next() {
  const auto shift = std::min(failures_, 20);
  const auto ceiling = std::min<std::int64_t>(max_.count(), initial_.count() << shift);
  ++failures_;
  std::uniform_int_distribution<std::int64_t> d(ceiling / 2, ceiling);  // "equal jitter": grows, yet spread
  return std::chrono::milliseconds(d(rng_));
}

}  // namespace cryptoflow::binance
