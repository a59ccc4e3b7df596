#include "state_store.hpp"

#include <cstring>

namespace cryptoflow::processor {
namespace {

constexpr std::uint32_t kStateMagic = 0x31545343;  // "CST1"

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <class T>
bool get(std::string_view& in, T& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}

}  // namespace

std::string encode_state(const StateRecord& r) {
  std::string out;
  out.reserve(28 + r.engine.size());
  put(out, kStateMagic);
  put(out, r.next_offset);
  put(out, r.seq);
  put(out, r.nonce);
  out += r.engine;
  return out;
}

std::optional<StateRecord> decode_state(std::string_view in) {
  StateRecord r;
  std::uint32_t magic = 0;
  if (!get(in, magic) || magic != kStateMagic || !get(in, r.next_offset) || !get(in, r.seq) || !get(in, r.nonce))
    return std::nullopt;
  if (r.next_offset < 0 || r.seq < 0) return std::nullopt;
  r.engine.assign(in);
  return r;
}

std::string state_key(const std::string& group, const std::string& input_topic, std::int32_t partition) {
  return group + "/" + input_topic + "/" + std::to_string(partition);
}

std::string commit_tag(std::int32_t partition, std::uint64_t nonce, std::int64_t seq) {
  return std::to_string(partition) + "/" + std::to_string(nonce) + "/" + std::to_string(seq);
}

}  // namespace cryptoflow::processor
