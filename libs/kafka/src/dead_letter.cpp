#include "cryptoflow/kafka/dead_letter.hpp"

namespace cryptoflow::kafka {

std::vector<Header> dead_letter_headers(const Record& original, const std::string& error) {
  return {{"error", error},
          {"source.topic", original.topic},
          {"source.partition", std::to_string(original.partition)},
          {"source.offset", std::to_string(original.offset)}};
}

void send_to_dead_letter(Producer& producer, std::string_view dead_letter_topic, const Record& original,
                         const std::string& error, std::span<const Header> extra) {
  auto headers = dead_letter_headers(original, error);
  headers.insert(headers.end(), extra.begin(), extra.end());
  std::string_view value = original.value;
  if (value.size() > kDeadLetterMaxValueBytes) {
    headers.push_back({"original.size", std::to_string(value.size())});
    value = value.substr(0, kDeadLetterMaxValueBytes);
  }
  const std::string_view key = std::string_view(original.key).substr(0, kDeadLetterMaxValueBytes);
  producer.produce(
      {.topic = dead_letter_topic, .key = key, .value = value, .timestamp = original.timestamp, .headers = headers});
}

}  // namespace cryptoflow::kafka
