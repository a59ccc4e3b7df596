#include "live_plan.hpp"

#include <algorithm>
#include <cctype>

#include "cryptoflow/runtime/config.hpp"

namespace cryptoflow::binance {

std::vector<std::string> stream_urls(const std::string& base, const std::vector<std::string>& symbols,
                                     const std::string& stream, std::size_t per_connection) {
  return stream_urls(base, symbols, std::vector<std::string>{stream}, per_connection);
}

std::vector<std::string> stream_urls(const std::string& base, const std::vector<std::string>& symbols,
                                     const std::vector<std::string>& streams, std::size_t per_connection) {
  std::vector<std::string> names;
  for (const auto& s : symbols) {
    if (s.empty() || s.size() > 32 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
      throw ConfigError("BINANCE_SYMBOLS: '" + s + "' is not a symbol (letters and digits)");
    std::string lower = s;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& stream : streams) names.push_back(lower + "@" + stream);
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

std::vector<std::string> depth_symbols(std::string_view url) {
  std::vector<std::string> out;
  const auto q = url.find("streams=");
  if (q == std::string_view::npos) return out;
  auto rest = url.substr(q + 8);
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const auto name = rest.substr(0, slash);
    if (const auto at = name.find("@depth"); at != std::string_view::npos) {
      std::string symbol(name.substr(0, at));
      for (auto& c : symbol) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out.push_back(std::move(symbol));
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return out;
}

Url parse_ws_or_http_url(const std::string& url, const std::string& variable) {
  return parse_url(url, variable, {"ws", "wss", "http", "https"});
}

GapTracker::Result GapTracker::check(const std::string& symbol, std::int64_t id) const {
  auto it = last_.find(symbol);
  if (it == last_.end()) return {Verdict::first};
  if (id < it->second - kResyncDistance) return {Verdict::resync};
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

}  // namespace cryptoflow::binance
