#include "cryptoflow/kafka/record.hpp"

namespace cryptoflow::kafka {

std::optional<std::string_view> Record::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it)
    if (it->key == name) return std::string_view(it->value);
  return std::nullopt;
}

}  // namespace cryptoflow::kafka
