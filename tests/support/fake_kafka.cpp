#include "fake_kafka.hpp"

#include <algorithm>
#include <exception>
#include <utility>

namespace cryptoflow::test {

using kafka::ErrorKind;
using kafka::KafkaError;
using kafka::TopicPartition;

// ---------------------------------------------------------------------------------------------
void FakeCluster::create_topic(const std::string& name, std::int32_t partitions) {
  const std::lock_guard lock(mu_);
  topics_[name].resize(static_cast<std::size_t>(partitions));
}

std::int32_t FakeCluster::partitions(const std::string& topic) const {
  const std::lock_guard lock(mu_);
  const auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : static_cast<std::int32_t>(it->second.size());
}

std::int32_t FakeCluster::partition_for(const std::string& topic, std::string_view key) const {
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (const char c : key) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return static_cast<std::int32_t>(h % static_cast<std::uint32_t>(partitions(topic)));
}

FakeCluster::Log& FakeCluster::log(const TopicPartition& tp) {
  auto it = topics_.find(tp.topic);
  if (it == topics_.end() || tp.partition < 0 || tp.partition >= static_cast<std::int32_t>(it->second.size()))
    throw KafkaError(ErrorKind::failed, "unknown topic or partition " + tp.topic + "/" + std::to_string(tp.partition),
                     "UNKNOWN_TOPIC_OR_PART");
  return it->second[static_cast<std::size_t>(tp.partition)];
}

const FakeCluster::Log& FakeCluster::log(const TopicPartition& tp) const {
  return const_cast<FakeCluster*>(this)->log(tp);
}

std::int64_t FakeCluster::append(const std::string& topic, std::string_view key, std::string_view value,
                                 std::int64_t timestamp, std::optional<std::int32_t> partition,
                                 const std::vector<kafka::Header>& headers) {
  return append_in(
      0,
      {.topic = topic, .key = key, .value = value, .timestamp = timestamp, .headers = headers, .partition = partition});
}

std::int64_t FakeCluster::append_in(std::uint64_t txn, const kafka::Message& m) {
  const std::lock_guard lock(mu_);
  const std::string topic(m.topic);
  const auto p = m.partition.value_or(partition_for(topic, m.key));
  auto& l = log({topic, p});
  const auto offset = l.base + static_cast<std::int64_t>(l.records.size());
  kafka::Record r{topic,
                  p,
                  offset,
                  m.timestamp,
                  std::string(m.key),
                  std::string(m.value),
                  std::vector<kafka::Header>(m.headers.begin(), m.headers.end())};
  l.bytes += m.key.size() + m.value.size();
  l.records.push_back({std::move(r), txn});
  apply_retention({topic, p});
  return offset;
}

void FakeCluster::set_retention_bytes(const std::string& topic, std::size_t bytes) {
  const std::lock_guard lock(mu_);
  retention_[topic] = bytes;
}

void FakeCluster::apply_retention(const TopicPartition& tp) {
  const auto it = retention_.find(tp.topic);
  if (it == retention_.end() || it->second == 0) return;
  auto& l = log(tp);
  std::size_t drop = 0;
  while (l.bytes > it->second && drop + 1 < l.records.size()) {
    const auto& r = l.records[drop].record;
    l.bytes -= r.key.size() + r.value.size();
    ++drop;
  }
  l.records.erase(l.records.begin(), l.records.begin() + static_cast<std::ptrdiff_t>(drop));
  l.base += static_cast<std::int64_t>(drop);
}

std::uint64_t FakeCluster::open_transaction() {
  const std::lock_guard lock(mu_);
  open_.insert(next_txn_);
  return next_txn_++;
}

void FakeCluster::add_offsets(std::uint64_t txn, const std::string& group, const kafka::OffsetMap& offsets) {
  const std::lock_guard lock(mu_);
  for (const auto& [tp, o] : offsets) txn_offsets_[txn][group][tp] = o;
}

void FakeCluster::end_transaction(std::uint64_t txn, bool commit) {
  const std::lock_guard lock(mu_);
  open_.erase(txn);
  if (commit) {
    for (const auto& [group, offsets] : txn_offsets_[txn])
      for (const auto& [tp, o] : offsets) groups_[group][tp] = o;
  } else {
    aborted_.insert(txn);
  }
  txn_offsets_.erase(txn);
}

void FakeCluster::commit_offsets(const std::string& group, const kafka::OffsetMap& offsets) {
  const std::lock_guard lock(mu_);
  for (const auto& [tp, o] : offsets) groups_[group][tp] = o;
}

bool FakeCluster::visible(const Stored& s) const {
  return s.txn == 0 || (!open_.count(s.txn) && !aborted_.count(s.txn));
}

std::optional<kafka::Record> FakeCluster::read_committed(const TopicPartition& tp, std::int64_t& offset) const {
  const std::lock_guard lock(mu_);
  const auto& l = log(tp);
  offset = std::max(offset, l.base);  // what retention removed is gone: reading goes on after it
  while (offset < l.base + static_cast<std::int64_t>(l.records.size())) {
    const auto& s = l.records[static_cast<std::size_t>(offset - l.base)];
    if (open_.count(s.txn)) return std::nullopt;  // the last stable offset: an open transaction
    if (aborted_.count(s.txn)) {
      ++offset;
      continue;
    }
    return s.record;
  }
  return std::nullopt;
}

std::vector<kafka::Record> FakeCluster::committed_records(const TopicPartition& tp) const {
  std::vector<kafka::Record> out;
  std::int64_t offset = 0;
  while (auto r = read_committed(tp, offset)) {
    out.push_back(std::move(*r));
    ++offset;
  }
  return out;
}

std::vector<kafka::Record> FakeCluster::committed_records(const std::string& topic) const {
  std::vector<kafka::Record> out;
  for (std::int32_t p = 0; p < partitions(topic); ++p) {
    auto part = committed_records(TopicPartition{topic, p});
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

std::size_t FakeCluster::written(const std::string& topic) const {
  const std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& l : topics_.at(topic)) n += static_cast<std::size_t>(l.base) + l.records.size();
  return n;
}

kafka::OffsetMap FakeCluster::group_offsets(const std::string& group) const {
  const std::lock_guard lock(mu_);
  const auto it = groups_.find(group);
  return it == groups_.end() ? kafka::OffsetMap{} : it->second;
}

kafka::Watermarks FakeCluster::watermarks(const TopicPartition& tp) const {
  const std::lock_guard lock(mu_);
  const auto& l = log(tp);
  return {l.base, l.base + static_cast<std::int64_t>(l.records.size())};
}

// ---------------------------------------------------------------------------------------------
void FakeProducer::fence() {
  fenced_ = true;
  if (txn_) cluster_.end_transaction(std::exchange(txn_, 0), false);
}

void FakeProducer::check_fenced(const char* what) const {
  if (fenced_) throw KafkaError(ErrorKind::fatal, std::string(what) + ": producer fenced", "PRODUCER_FENCED");
}

void FakeProducer::produce(const kafka::Message& m) {
  check_fenced("produce");
  if (transactional_ && !txn_) throw KafkaError(ErrorKind::failed, "produce outside a transaction", "_STATE");
  if (fail_delivery && fail_delivery(m)) {
    ++undelivered_;
    if (txn_) must_abort_ = true;
    return;
  }
  cluster_.append_in(txn_, m);
}

void FakeProducer::flush(std::chrono::milliseconds) {
  ++flushes_;
  check_fenced("flush");
  if (flush_timeouts > 0) {
    --flush_timeouts;
    throw KafkaError(ErrorKind::timed_out, "flush: messages not acknowledged in time", "_TIMED_OUT");
  }
  if (const auto n = std::exchange(undelivered_, 0); n > 0)
    throw KafkaError(transactional_ ? ErrorKind::abortable : ErrorKind::failed,
                     std::to_string(n) + " messages could not be delivered", "_MSG_TIMED_OUT");
}

void FakeProducer::init_transactions(std::chrono::milliseconds) {
  if (!transactional_) throw KafkaError(ErrorKind::failed, "init_transactions: not transactional", "_NOT_CONFIGURED");
  check_fenced("init_transactions");
  initialized_ = true;
}

void FakeProducer::begin_transaction() {
  check_fenced("begin_transaction");
  if (!initialized_) throw KafkaError(ErrorKind::failed, "begin_transaction: not initialized", "_STATE");
  if (txn_) throw KafkaError(ErrorKind::failed, "begin_transaction: a transaction is open", "_STATE");
  txn_ = cluster_.open_transaction();
  must_abort_ = false;
}

void FakeProducer::send_offsets_to_transaction(const kafka::OffsetMap& offsets, const kafka::GroupMetadata& group,
                                               std::chrono::milliseconds) {
  check_fenced("send_offsets_to_transaction");
  if (!txn_) throw KafkaError(ErrorKind::failed, "send_offsets_to_transaction: no transaction", "_STATE");
  if (must_abort_) throw KafkaError(ErrorKind::abortable, "send_offsets_to_transaction: must abort", "_STATE");
  cluster_.add_offsets(txn_, group.group_id, offsets);
}

void FakeProducer::commit_transaction(std::chrono::milliseconds) {
  if (before_commit) before_commit();
  check_fenced("commit_transaction");
  if (!txn_) throw KafkaError(ErrorKind::failed, "commit_transaction: no transaction", "_STATE");
  if (fail_next_commit) {
    const auto kind = *std::exchange(fail_next_commit, std::nullopt);
    if (kind == ErrorKind::abortable) must_abort_ = true;
    if (kind == ErrorKind::fatal) fence();
    throw KafkaError(kind, std::string("commit_transaction: injected ") + kafka::to_string(kind));
  }
  if (must_abort_) throw KafkaError(ErrorKind::abortable, "commit_transaction: a message was not delivered");
  cluster_.end_transaction(std::exchange(txn_, 0), true);
  ++commits_;
}

void FakeProducer::abort_transaction(std::chrono::milliseconds) {
  check_fenced("abort_transaction");
  if (txn_) cluster_.end_transaction(std::exchange(txn_, 0), false);
  must_abort_ = false;
  undelivered_ = 0;
  ++aborts_;
}

// ---------------------------------------------------------------------------------------------
FakeConsumer::~FakeConsumer() {
  try {
    close();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor reports nothing
  }
}

void FakeConsumer::assign(const std::vector<TopicPartition>& partitions) {
  events_.push_back({true, partitions, false});
}

void FakeConsumer::revoke(const std::vector<TopicPartition>& partitions, bool lost) {
  events_.push_back({false, partitions, lost});
}

void FakeConsumer::assign_all() {
  events_.push_back({true, {}, false});
}

void FakeConsumer::subscribe(const std::vector<std::string>& topics, kafka::RebalanceListener listener) {
  topics_ = topics;
  listener_ = std::move(listener);
}

void FakeConsumer::deliver_events() {
  std::exception_ptr error;
  while (!events_.empty()) {
    auto e = std::move(events_.front());
    events_.pop_front();
    if (e.assign && e.partitions.empty())
      for (const auto& t : topics_)
        for (std::int32_t p = 0; p < cluster_.partitions(t); ++p) e.partitions.push_back({t, p});
    if (e.assign) {
      kafka::OffsetMap start;
      try {
        if (listener_.assigned) start = listener_.assigned(e.partitions);
      } catch (...) {
        if (!error) error = std::current_exception();
      }
      const auto committed_offsets = cluster_.group_offsets(group_);
      for (const auto& tp : e.partitions) {
        auto it = start.find(tp);
        auto c = committed_offsets.find(tp);
        position_[tp] = it != start.end() ? it->second : c != committed_offsets.end() ? c->second : 0;
      }
    } else {
      try {
        if (listener_.revoked) listener_.revoked(e.partitions, e.lost);
      } catch (...) {
        if (!error) error = std::current_exception();
      }
      for (const auto& tp : e.partitions) {
        position_.erase(tp);
        paused_.erase(tp);
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

std::optional<kafka::Record> FakeConsumer::poll(std::chrono::milliseconds) {
  if (closed_) throw KafkaError(ErrorKind::failed, "poll: consumer closed");
  deliver_events();
  if (position_.empty()) return std::nullopt;
  for (std::size_t i = 0; i < position_.size(); ++i) {
    auto it = std::next(position_.begin(), static_cast<std::ptrdiff_t>((next_ + i) % position_.size()));
    if (paused_.count(it->first)) continue;
    if (auto r = cluster_.read_committed(it->first, it->second)) {
      it->second = r->offset + 1;
      next_ = (next_ + i + 1) % position_.size();
      return r;
    }
  }
  return std::nullopt;
}

void FakeConsumer::commit(const kafka::OffsetMap& offsets) {
  if (fail_next_commit) {
    const auto kind = *std::exchange(fail_next_commit, std::nullopt);
    throw KafkaError(kind, std::string("offset commit: injected ") + kafka::to_string(kind));
  }
  cluster_.commit_offsets(group_, offsets);
}

kafka::OffsetMap FakeConsumer::committed(const std::vector<TopicPartition>& partitions, std::chrono::milliseconds) {
  const auto all = cluster_.group_offsets(group_);
  kafka::OffsetMap out;
  for (const auto& tp : partitions)
    if (auto it = all.find(tp); it != all.end()) out.insert(*it);
  return out;
}

void FakeConsumer::seek(const kafka::OffsetMap& offsets) {
  for (const auto& [tp, o] : offsets) {
    auto it = position_.find(tp);
    if (it == position_.end())
      throw KafkaError(ErrorKind::failed, "seek: " + tp.topic + "/" + std::to_string(tp.partition) + " not assigned",
                       "_UNKNOWN_PARTITION");
    it->second = o;
  }
}

void FakeConsumer::pause(const std::vector<TopicPartition>& partitions) {
  for (const auto& tp : partitions) {  // as librdkafka: only what is assigned can be paused
    if (!position_.count(tp))
      throw KafkaError(ErrorKind::failed, "pause: " + tp.topic + "/" + std::to_string(tp.partition) + " not assigned",
                       "_UNKNOWN_PARTITION");
    paused_.insert(tp);
  }
}

void FakeConsumer::resume(const std::vector<TopicPartition>& partitions) {
  for (const auto& tp : partitions) paused_.erase(tp);
}

std::vector<TopicPartition> FakeConsumer::assignment() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, pos] : position_) out.push_back(tp);
  return out;
}

std::int64_t FakeConsumer::lag() const {
  std::int64_t lag = 0;
  for (const auto& [tp, pos] : position_) lag += std::max<std::int64_t>(0, cluster_.watermarks(tp).high - pos);
  return lag;
}

std::int64_t FakeConsumer::lag(const TopicPartition& tp) const {
  const auto it = position_.find(tp);
  return it == position_.end() ? 0 : std::max<std::int64_t>(0, cluster_.watermarks(tp).high - it->second);
}

kafka::Watermarks FakeConsumer::watermarks(const TopicPartition& tp, std::chrono::milliseconds) {
  return cluster_.watermarks(tp);
}

void FakeConsumer::close() {
  if (closed_) return;
  closed_ = true;
  events_.clear();
  if (!position_.empty()) revoke(assignment());
  struct Drop {
    kafka::RebalanceListener& l;
    ~Drop() { l = {}; }
  } drop{listener_};
  deliver_events();
}

bool FakeConsumer::idle() const {
  if (!events_.empty()) return false;
  for (const auto& [tp, pos] : position_) {
    if (paused_.count(tp)) continue;
    auto at = pos;
    if (cluster_.read_committed(tp, at)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
std::int32_t FakeReader::partition_count(const std::string& topic, std::chrono::milliseconds) {
  const auto n = cluster_.partitions(topic);
  if (n == 0) throw KafkaError(ErrorKind::failed, "topic " + topic + " does not exist", "UNKNOWN_TOPIC_OR_PART");
  return n;
}

void FakeReader::scan(const TopicPartition& tp, const std::function<void(const kafka::Record&)>& each,
                      std::chrono::milliseconds, const std::function<bool()>& cancelled) {
  if (on_scan) on_scan(tp);
  ++scans_;
  for (const auto& r : cluster_.committed_records(tp)) {
    if (cancelled && cancelled()) throw kafka::Cancelled("reading a partition: stopped");
    each(r);
  }
}

std::optional<kafka::Record> FakeReader::newest(const TopicPartition& tp, std::string_view key,
                                                std::int64_t not_before_ms, std::chrono::milliseconds,
                                                const std::function<bool()>& cancelled) {
  if (on_newest) on_newest(tp);
  if (cancelled && cancelled()) throw kafka::Cancelled("newest record of a key: stopped");
  ++lookups_;
  const auto records = cluster_.committed_records(tp);
  for (auto it = records.rbegin(); it != records.rend(); ++it) {  // back to the first record older than the bound
    if (it->key == key) return *it;
    if (it->timestamp < not_before_ms) break;
  }
  return std::nullopt;
}

}  // namespace cryptoflow::test
