#pragma once
// Where a (re)started producer resumes: the newest trade of each symbol in the trades topic.
// The topic is the durable position, as a Kafka Connect source keeps its offsets: an id counts
// as published only once Kafka has it, so a crash between receiving and delivering a trade
// leaves it to the backfill, never to nothing.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cryptoflow/kafka/client.hpp"

namespace cryptoflow::binance {

// symbols as they key the topic (upper case); the search goes back to trades of not_before_ms
// (the resume look-back). A symbol without a decodable trade there is left out: it starts from
// the live stream. Throws what the reader throws (timed_out, Cancelled).
std::map<std::string, std::int64_t> last_trade_ids(kafka::Reader& reader, const std::string& topic,
                                                   const std::vector<std::string>& symbols, std::int64_t not_before_ms,
                                                   std::chrono::milliseconds timeout,
                                                   const std::function<bool()>& cancelled);

// BINANCE_SYMBOLS as the topic's keys: upper case, each once.
std::vector<std::string> topic_keys(const std::vector<std::string>& symbols);

}  // namespace cryptoflow::binance
