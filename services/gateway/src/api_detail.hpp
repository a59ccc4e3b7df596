#pragma once
// Helpers the API files share: JSON output and query parameters.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "api.hpp"

namespace cryptoflow::gateway::detail {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

inline void string(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
inline void key(Writer& w, std::string_view s) {
  w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
// A decimal as a JSON string with its exact digits ("0.00017000").
inline void decimal_string(Writer& w, const Decimal& d) {
  string(w, d.to_string());
}
// A decimal as Binance prints one: 8 places ("295.92794416"), rounded half away from zero
// where the exact value has more (the native API keeps every digit).
inline Decimal binance_value(const Decimal& d) {
  if (d.scale() == 8) return d;
  return d.divide(Decimal::from_int(1), 8).value_or(d);
}
inline void binance_decimal(Writer& w, const Decimal& d) {
  string(w, binance_value(d).to_string());
}
// A decimal as a JSON number with its exact digits (CoinGecko's shape).
inline void decimal_number(Writer& w, const Decimal& d) {
  const auto s = d.normalized().to_string();
  w.RawValue(s.data(), s.size(), rapidjson::kNumberType);
}
// Already-encoded JSON (a message as it came from Kafka).
inline void raw(Writer& w, std::string_view json) {
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}
inline std::string text(const rapidjson::StringBuffer& b) {
  return {b.GetString(), b.GetSize()};
}

// A query parameter that is absent, or an integer within [min, max], or an error (the value
// is there but is not such an integer).
struct BadParameter {
  std::string name;
};
using IntParam = std::variant<std::optional<std::int64_t>, BadParameter>;
IntParam int_param(const Request& r, const std::string& name, std::int64_t min, std::int64_t max);
// The parameter's value, or empty when absent.
std::string param(const Request& r, const std::string& name);
// Comma-separated items, trimmed, empty ones dropped.
std::vector<std::string> csv(std::string_view text);
std::string upper(std::string_view s);
std::string lower(std::string_view s);

}  // namespace cryptoflow::gateway::detail
