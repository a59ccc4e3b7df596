#include "api.hpp"

#include <algorithm>
#include <charconv>

#include "api_detail.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "history.hpp"
#include "routes.hpp"

namespace cryptoflow::gateway {

namespace detail {

IntParam int_param(const Request& r, const std::string& name, std::int64_t min, std::int64_t max) {
  const auto it = r.query.find(name);
  if (it == r.query.end() || it->second.empty()) return std::optional<std::int64_t>{};
  std::int64_t v = 0;
  const auto& s = it->second;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) return BadParameter{name};
  return std::optional<std::int64_t>{v};
}

std::string param(const Request& r, const std::string& name) {
  const auto it = r.query.find(name);
  return it == r.query.end() ? std::string{} : it->second;
}

std::vector<std::string> csv(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    auto item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace detail

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex(text[i + 1]);
      const int lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      const auto byte = static_cast<char>(hi * 16 + lo);
      if (byte == '\0') return std::nullopt;
      out.push_back(byte);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '\0') {
      return std::nullopt;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<Request> parse_target(std::string_view method, std::string_view target) {
  Request r;
  r.method = std::string(method);
  const auto q = target.find('?');
  auto path = percent_decode(target.substr(0, q), false);
  if (!path) return std::nullopt;
  r.path = std::move(*path);
  if (q == std::string_view::npos) return r;
  auto query = target.substr(q + 1);
  if (const auto hash = query.find('#'); hash != std::string_view::npos) query = query.substr(0, hash);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      auto name = percent_decode(pair.substr(0, eq), true);
      auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
      if (!name || !value) return std::nullopt;
      const auto [it, fresh] = r.query.try_emplace(std::move(*name), std::move(*value));
      if (!fresh && r.duplicate.empty()) r.duplicate = it->first;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return r;
}

Response native_error(int status, std::string_view message, std::string_view parameter) {
  rapidjson::StringBuffer b;
  detail::Writer w(b);
  w.StartObject();
  detail::key(w, "error");
  w.StartObject();
  detail::key(w, "status");
  w.Int(status);
  detail::key(w, "message");
  detail::string(w, printable(message));  // it may echo what the client sent
  if (!parameter.empty()) {
    detail::key(w, "parameter");
    detail::string(w, printable(parameter));
  }
  w.EndObject();
  w.EndObject();
  return {status, detail::text(b)};
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned c = p[i];
    std::size_t len = 0;
    unsigned min = 0;
    if (c < 0x80) {
      if (c >= 0x20 && c != 0x7f) out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf)
      len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
      len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
      len = 4, min = 0x10000;
    bool valid = len > 0 && i + len <= n;
    unsigned cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (std::size_t k = 1; valid && k < len; ++k) {
      valid = (p[i + k] & 0xc0) == 0x80;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    valid = valid && cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    if (valid) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
    }
  }
  return out;
}

std::optional<Response> handle_api(const Request& request, const ApiContext& context) {
  auto match = match_route(request.path);
  const auto dialect = match ? match->route->dialect : dialect_of(request.path);
  if (!dialect) return std::nullopt;
  if (!request.duplicate.empty()) return duplicate_parameter(*dialect, request.duplicate);
  if (!match) return not_found(*dialect, request.path);
  if (match->route->handle == nullptr) return std::nullopt;
  if (match->params.empty()) return match->route->handle(request, context);
  Request with = request;
  with.params = std::move(match->params);
  return match->route->handle(with, context);
}

void keep_limit(std::vector<Candle>& candles, const CandleQuery& q) {
  if (candles.size() <= q.limit) return;
  if (q.start)
    candles.resize(q.limit);
  else
    candles.erase(candles.begin(), candles.begin() + static_cast<std::ptrdiff_t>(candles.size() - q.limit));
}

namespace {

// The older part of q the history answers, where the store starts later than q reaches (held:
// the store's candles for q); nothing when the store answers q alone.
struct Older {
  CandleQuery query;
  std::optional<std::int64_t> oldest;  // the store's first candle when it was asked
};
std::optional<Older> older_part(const CandleQuery& q, const ApiContext& ctx, const std::vector<Candle>& held) {
  if (!ctx.history_enabled) return std::nullopt;
  const auto oldest = ctx.store.first_start(q.symbol, q.interval);
  CandleQuery older = q;
  if (q.start) {  // the first `limit` from start: older ones come first where the store starts later
    if (oldest && *q.start >= *oldest) return std::nullopt;
    if (oldest) older.end = std::min(q.end.value_or(INT64_MAX), *oldest - 1);
  } else {  // the last `limit` up to end: older ones fill what the store lacks
    if (held.size() >= q.limit) return std::nullopt;
    if (!held.empty()) older.end = held.front().start - 1;
    older.limit = q.limit - held.size();
  }
  return Older{older, oldest};
}

constexpr auto kOlderUnavailable = "199 cryptoflow-gateway \"older candles unavailable\"";

}  // namespace

bool reaches_history(const CandleQuery& q, const ApiContext& ctx) {
  if (!ctx.history_enabled) return false;
  if (q.start) return older_part(q, ctx, {}).has_value();
  return older_part(q, ctx, ctx.store.candles(q)).has_value();
}

std::vector<Candle> query_candles(const CandleQuery& q, const ApiContext& ctx, Response& response) {
  auto held = ctx.store.candles(q);
  const auto older = older_part(q, ctx, held);
  if (!older) return held;
  if (ctx.history == nullptr) {
    response.headers.emplace_back("Warning", kOlderUnavailable);
    return held;
  }
  try {
    const auto& query = older->query;
    const auto& oldest = older->oldest;
    auto out = ctx.history->candles(query);
    std::erase_if(
        out, [&](const Candle& c) { return (oldest && c.start >= *oldest) || (query.end && c.start > *query.end); });
    out.insert(out.end(), held.begin(), held.end());
    keep_limit(out, q);
    return out;
  } catch (const std::exception& e) {
    // The cause (host names, InfluxDB's text) is for the operator's log, not for clients.
    log_warn("gateway: older candles unavailable from INFLUX_URL", {{"error", e.what()}});
    response.headers.emplace_back("Warning", kOlderUnavailable);
    return held;
  }
}

}  // namespace cryptoflow::gateway
