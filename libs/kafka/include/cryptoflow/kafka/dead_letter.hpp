#pragma once
// The dead-letter topic: a record that cannot be processed is sent there with its original key
// and value and headers that say why and where it came from.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/kafka/client.hpp"

namespace cryptoflow::kafka {

// error, source.topic, source.partition, source.offset.
std::vector<Header> dead_letter_headers(const Record& original, const std::string& error);

// Produces the original key and value (and timestamp) with dead_letter_headers() + extra.
void send_to_dead_letter(Producer& producer, std::string_view dead_letter_topic, const Record& original,
                         const std::string& error, std::span<const Header> extra = {});

}  // namespace cryptoflow::kafka
