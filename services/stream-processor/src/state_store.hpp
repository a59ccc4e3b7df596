#pragma once
// The processor's state topic: one record per input partition and commit, written in the same
// transaction as the outputs it explains and the input offsets it covers. Its value is the
// partition's whole window state plus the next input offset; its key names the group, input
// topic and partition, so the newest record per key is all a restore needs (cleanup.policy=
// compact on a real cluster; the embedded broker keeps the newest records of each partition).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cryptoflow::processor {

struct StateRecord {
  std::int64_t next_offset = 0;  // next input offset to read
  std::int64_t seq = 0;          // +1 per commit of this partition
  std::uint64_t nonce = 0;       // the writing incarnation (new on each start and each abort)
  std::string engine;            // CandleEngine::snapshot of the partition
};

std::string encode_state(const StateRecord& r);
// nullopt if the bytes are not a state record (the engine part is checked by restore()).
std::optional<StateRecord> decode_state(std::string_view bytes);
std::string state_key(const std::string& group, const std::string& input_topic, std::int32_t partition);

// Header on every output record and on the state record of the same commit: "<partition>/
// <nonce>/<seq>". An output belongs to a committed transaction when the state record with the
// same tag exists; readers of a broker without transaction markers can filter on it.
inline constexpr const char* kCommitHeader = "cryptoflow.commit";
std::string commit_tag(std::int32_t partition, std::uint64_t nonce, std::int64_t seq);

}  // namespace cryptoflow::processor
