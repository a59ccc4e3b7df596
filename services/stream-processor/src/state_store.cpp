#include "state_store.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "cryptoflow/runtime/log.hpp"

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

void StateStore::restored(std::int32_t partition, RestoredState state, bool foreign, std::int64_t now_ms) {
  Partition o;
  o.committed = state.partition;
  o.next_offset = o.committed.next_offset;
  o.state_bytes = state.bytes;
  o.written_at = std::move(state.written_at);
  for (const auto& [symbol, at] : o.written_at) o.oldest.emplace(at, symbol);
  o.rewrite_all = foreign;
  engine_.restore_partition(partition, o.committed.meta, now_ms);
  for (auto& [symbol, bytes] : state.symbols) {
    try {
      engine_.restore_symbol(partition, bytes);
      o.symbols.emplace(symbol, std::move(bytes));
    } catch (const SnapshotError& e) {
      log_error("undecodable symbol state skipped; the symbol starts afresh",
                {{"partition", partition}, {"symbol", symbol}, {"error", e.what()}});
      if (auto at = o.written_at.find(symbol); at != o.written_at.end()) {
        o.oldest.erase({at->second, symbol});
        o.written_at.erase(at);
      }
    }
  }
  partitions_[partition] = std::move(o);
}

void StateStore::fresh(std::int32_t partition, std::int64_t next_offset, std::int64_t now_ms) {
  Partition o;
  o.next_offset = next_offset;
  o.committed.next_offset = next_offset;
  engine_.restore_partition(partition, {}, now_ms);
  partitions_[partition] = std::move(o);
}

StateStore::Pending StateStore::write(std::int32_t p, std::uint64_t nonce, const Write& write) {
  auto& o = partitions_.at(p);
  Pending w;
  w.state_bytes = o.state_bytes;
  const auto put = [&](const std::string& key, std::string_view value) {
    write(key, value);
    w.state_bytes += static_cast<std::int64_t>(key.size() + value.size());
  };
  std::set<std::string> names;
  for (auto& symbol : engine_.take_changed_symbols(p)) names.insert(std::move(symbol));
  // Evicting looks at every symbol: once a minute of event time is often enough.
  if (const auto now = engine_.partition_meta(p).max_trade_time;
      options_.evict_after_ms > 0 && now != CandleEngine::kNone &&
      (o.evicted_at == CandleEngine::kNone || now - o.evicted_at >= 60'000)) {
    w.evicted = engine_.evict_quiet(p, options_.evict_after_ms);
    o.evicted_at = now;
  }
  if (o.rewrite_all)
    for (auto& symbol : engine_.symbols(p)) names.insert(std::move(symbol));
  for (const auto& symbol : w.evicted) names.erase(symbol);
  const auto write_symbol = [&](const std::string& symbol) {
    auto bytes = engine_.snapshot_symbol(symbol);
    put(symbol_key(options_.group, options_.input_topic, p, symbol), bytes);
    w.written_at[symbol] = w.state_bytes;
    w.written.emplace(symbol, std::move(bytes));
  };
  for (const auto& symbol : names) write_symbol(symbol);
  // The refresh: the oldest unchanged symbols past half the window, as many as this commit's
  // share of going through all of them once per refresh_bytes of writes. Spread over the
  // commits; none while trading keeps every symbol's record young.
  if (options_.refresh_bytes > 0 && !o.rewrite_all) {
    const auto share = static_cast<double>(w.state_bytes - o.state_bytes) /
                       static_cast<double>(options_.refresh_bytes) * static_cast<double>(o.oldest.size());
    auto quota = static_cast<std::size_t>(std::ceil(share));
    for (auto it = o.oldest.begin(); it != o.oldest.end() && quota > 0; ++it) {
      if (o.state_bytes - it->first < options_.refresh_bytes / 2) break;  // young enough: no need yet
      if (names.count(it->second) || std::find(w.evicted.begin(), w.evicted.end(), it->second) != w.evicted.end())
        continue;
      write_symbol(it->second);
      ++w.refreshed;
      --quota;
    }
  }
  for (const auto& symbol : w.evicted)
    put(symbol_key(options_.group, options_.input_topic, p, symbol), {});  // a tombstone
  auto live = static_cast<std::int64_t>(o.symbols.size());
  for (const auto& [symbol, bytes] : w.written) live += o.symbols.count(symbol) ? 0 : 1;
  for (const auto& symbol : w.evicted) live -= o.symbols.count(symbol) ? 1 : 0;
  w.record = PartitionRecord{o.next_offset, o.committed.seq + 1, nonce, engine_.partition_meta(p), live};
  put(partition_key(options_.group, options_.input_topic, p), encode_partition_record(w.record));
  return w;
}

void StateStore::committed(std::map<std::int32_t, Pending>& pending) {
  for (auto& [p, w] : pending) {
    auto& o = partitions_.at(p);
    o.committed = w.record;
    o.state_bytes = w.state_bytes;
    o.rewrite_all = false;
    for (auto& [symbol, bytes] : w.written) o.symbols[symbol] = std::move(bytes);
    auto place = [&o](const std::string& symbol, std::optional<std::int64_t> at) {
      if (auto old = o.written_at.find(symbol); old != o.written_at.end()) {
        o.oldest.erase({old->second, symbol});
        o.written_at.erase(old);
      }
      if (at) {
        o.written_at[symbol] = *at;
        o.oldest.emplace(*at, symbol);
      }
    };
    for (const auto& [symbol, at] : w.written_at) place(symbol, at);
    for (const auto& symbol : w.evicted) {
      o.symbols.erase(symbol);
      place(symbol, std::nullopt);
    }
  }
}

std::map<std::int32_t, std::int64_t> StateStore::rewind(std::int64_t now_ms) {
  std::map<std::int32_t, std::int64_t> offsets;
  for (auto& [p, o] : partitions_) {
    engine_.restore_partition(p, o.committed.meta, now_ms);
    for (const auto& [symbol, bytes] : o.symbols) engine_.restore_symbol(p, bytes);
    o.next_offset = o.committed.next_offset;
    offsets[p] = o.next_offset;
  }
  return offsets;
}

std::size_t StateStore::bytes() const {
  std::size_t bytes = 0;
  for (const auto& [p, o] : partitions_)
    for (const auto& [symbol, state] : o.symbols) bytes += state.size();
  return bytes;
}

}  // namespace cryptoflow::processor
