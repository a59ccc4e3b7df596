#include "state_store.hpp"

#include <charconv>
#include <cstring>

namespace cryptoflow::processor {
namespace {

constexpr std::uint32_t kPartitionMagic = 0x32545343;  // "CST2"

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

template <class T>
bool number(std::string_view text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string encode_partition_record(const PartitionRecord& r) {
  std::string out;
  out.reserve(52);
  put(out, kPartitionMagic);
  put(out, r.next_offset);
  put(out, r.seq);
  put(out, r.nonce);
  put(out, r.meta.max_trade_time);
  put(out, r.meta.empty_through);
  put(out, r.symbols);
  return out;
}

std::optional<PartitionRecord> decode_partition_record(std::string_view in) {
  PartitionRecord r;
  std::uint32_t magic = 0;
  if (!get(in, magic) || magic != kPartitionMagic || !get(in, r.next_offset) || !get(in, r.seq) || !get(in, r.nonce) ||
      !get(in, r.meta.max_trade_time) || !get(in, r.meta.empty_through) || !get(in, r.symbols) || !in.empty())
    return std::nullopt;
  if (r.next_offset < 0 || r.seq < 0 || r.symbols < 0) return std::nullopt;
  return r;
}

std::string partition_key(const std::string& group, const std::string& input_topic, std::int32_t partition) {
  return group + "/" + input_topic + "/" + std::to_string(partition);
}

std::string symbol_key(const std::string& group, const std::string& input_topic, std::int32_t partition,
                       const std::string& symbol) {
  return partition_key(group, input_topic, partition) + "/" + symbol;
}

std::string commit_tag(std::int32_t partition, std::uint64_t nonce, std::int64_t seq) {
  return std::to_string(partition) + "/" + std::to_string(nonce) + "/" + std::to_string(seq);
}

std::optional<CommitTag> parse_commit_tag(std::string_view tag) {
  const auto a = tag.find('/');
  const auto b = tag.find('/', a == std::string_view::npos ? a : a + 1);
  if (a == std::string_view::npos || b == std::string_view::npos) return std::nullopt;
  CommitTag t;
  if (!number(tag.substr(0, a), t.partition) || !number(tag.substr(a + 1, b - a - 1), t.nonce) ||
      !number(tag.substr(b + 1), t.seq))
    return std::nullopt;
  return t;
}

StateAssembler::StateAssembler(const std::string& group, const std::string& input_topic, std::int32_t partition)
    : partition_key_(partition_key(group, input_topic, partition)), symbol_prefix_(partition_key_ + "/") {}

void StateAssembler::add(const kafka::Record& r) {
  const bool is_partition = r.key == partition_key_;
  if (!is_partition && r.key.compare(0, symbol_prefix_.size(), symbol_prefix_) != 0) return;
  ++records_;
  bytes_ += static_cast<std::int64_t>(r.key.size() + r.value.size());
  const auto tag = parse_commit_tag(r.header(kCommitHeader).value_or(""));
  if (!tag) return;  // not written by a processor: ignored
  if (is_partition) {
    const auto record = decode_partition_record(r.value);
    if (!record) return;
    committed_.insert(*tag);
    nonces_.insert(tag->nonce);
    if (!newest_) first_offset_ = r.offset;
    newest_ = record;
    newest_offset_ = r.offset;
  } else {
    symbols_.push_back({r.offset, *tag, r.key.substr(symbol_prefix_.size()), r.value, bytes_});
  }
}

std::optional<RestoredState> StateAssembler::finish() const {
  if (!newest_) return std::nullopt;
  RestoredState out;
  out.partition = *newest_;
  out.bytes = bytes_;
  for (const auto& s : symbols_) {         // in offset order: a later record of a symbol replaces an earlier one
    if (s.offset > newest_offset_) break;  // a transaction after the newest commit: not committed
    // Committed: its own partition record was read; or its writer's partition records are all
    // gone (compacted away, or past the retention of a broker that does not compact), which can
    // only be before the first partition record left, and it is no newer than the newest commit.
    // After that record, an unknown writer is one killed before its first commit.
    const bool committed = committed_.count(s.tag) > 0 ||
                           (nonces_.count(s.tag.nonce) == 0 && s.tag.seq <= newest_->seq && s.offset < first_offset_);
    if (!committed) continue;
    if (s.value.empty()) {
      out.symbols.erase(s.symbol);
      out.written_at.erase(s.symbol);
    } else {
      out.symbols[s.symbol] = s.value;
      out.written_at[s.symbol] = s.bytes_at;
    }
  }
  return out;
}

}  // namespace cryptoflow::processor
