#include "cryptoflow/kafka/record.hpp"

namespace cryptoflow::kafka {

std::optional<std::string_view> Record::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it)
    if (it->key == name) return std::string_view(it->value);
  return std::nullopt;
}

}  // namespace cryptoflow::kafka

namespace cryptoflow::kafka {

std::int32_t default_partition(std::string_view key, std::int32_t partitions) {
  std::uint32_t crc = 0xFFFFFFFFU;  // CRC-32 (IEEE 802.3, reflected), as librdkafka's rd_crc32
  for (const char c : key) {
    crc ^= static_cast<unsigned char>(c);
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320U & (0U - (crc & 1U)));
  }
  crc ^= 0xFFFFFFFFU;
  return partitions <= 0 ? 0 : static_cast<std::int32_t>(crc % static_cast<std::uint32_t>(partitions));
}

}  // namespace cryptoflow::kafka
