#include "resume.hpp"

#include <algorithm>
#include <cctype>

#include "cryptoflow/messages/messages.hpp"
#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow::binance {

std::map<std::string, std::int64_t> last_trade_ids(kafka::Reader& reader, const std::string& topic,
                                                   const std::vector<std::string>& symbols, std::int64_t not_before_ms,
                                                   std::chrono::milliseconds timeout,
                                                   const std::function<bool()>& cancelled) {
  std::map<std::string, std::int64_t> out;
  const auto partitions = reader.partition_count(topic, timeout);
  for (const auto& symbol : symbols) {
    const kafka::TopicPartition tp{topic, kafka::default_partition(symbol, partitions)};
    const auto newest = reader.newest(tp, symbol, not_before_ms, timeout, cancelled);
    if (!newest) continue;
    const auto trade = decode_trade(newest->value);
    if (!trade) {
      log_warn("the newest trade of a symbol in the topic cannot be read; starting it from the live stream",
               {{"symbol", symbol}, {"offset", newest->offset}, {"error", trade.error}});
      continue;
    }
    out[symbol] = trade.value->trade_id;
  }
  return out;
}

std::vector<std::string> topic_keys(const std::vector<std::string>& symbols) {
  std::vector<std::string> keys;
  for (auto s : symbols) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    keys.push_back(std::move(s));
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

}  // namespace cryptoflow::binance
