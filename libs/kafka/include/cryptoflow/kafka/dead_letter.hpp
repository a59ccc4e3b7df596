#pragma once
// The dead-letter topic: a record that cannot be processed is sent there with its original key
// and value and headers that say why and where it came from.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/kafka/client.hpp"

namespace cryptoflow::kafka {

// The largest original value a dead-letter record carries whole: a record near the topic's
// message.max.bytes (1 MB by default) plus headers would be refused, and the writer would fail
// on it at every restart. A longer value is cut to this size, with header original.size.
inline constexpr std::size_t kDeadLetterMaxValueBytes = std::size_t{256} * 1024;

// error, source.topic, source.partition, source.offset.
std::vector<Header> dead_letter_headers(const Record& original, const std::string& error);

// Produces the original key and value (and timestamp) with dead_letter_headers() + extra; a
// value over kDeadLetterMaxValueBytes is truncated to it and original.size gives its length.
void send_to_dead_letter(Producer& producer, std::string_view dead_letter_topic, const Record& original,
                         const std::string& error, std::span<const Header> extra = {});

}  // namespace cryptoflow::kafka
