#include "archiver.hpp"

#include <algorithm>
#include <charconv>

#include "cryptoflow/kafka/dead_letter.hpp"
#include "cryptoflow/kafka/error.hpp"

namespace cryptoflow::s3 {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Archiver::Archiver(ArchiveOptions options, kafka::Consumer& input, kafka::Producer& dead_letters, Store& store,
                   MetricsRegistry& m)
    : options_(std::move(options)),
      input_(input),
      dead_letters_(dead_letters),
      store_(store),
      backoff_(options_.first_backoff, options_.max_backoff),
      records_(m.counter("cryptoflow_s3_records_total", "Records archived (in stored objects)")),
      objects_(m.counter("cryptoflow_s3_objects_total", "Objects stored")),
      object_bytes_(m.counter("cryptoflow_s3_object_bytes_total", "Bytes stored (compressed)")),
      adopted_(m.counter("cryptoflow_s3_adopted_boundaries_total",
                         "Objects ended where an earlier run had ended them (replay after a crash)")),
      retries_(m.counter("cryptoflow_s3_retries_total", "Store calls retried (store down, 5xx, 403 ...)")),
      dead_lettered_(m.counter("cryptoflow_sink_dead_lettered_total", "Records sent to the dead-letter topic")),
      open_objects_(m.gauge("cryptoflow_s3_open_objects", "Objects being filled")),
      buffered_bytes_(m.gauge("cryptoflow_s3_buffered_bytes", "Compressed bytes held in open objects")),
      // Nothing to do on failure: objects are committed only once stored, and a revocation drops
      // the open ones.
      scope_(input_, options_.topics,
             {.name = "s3 archiver",
              .start = {},
              .assigned =
                  [this](const std::vector<kafka::TopicPartition>& tps) {
                    on_assigned(tps);
                    return kafka::OffsetMap{};
                  },
              .revoked = [this](const std::vector<kafka::TopicPartition>& tps, bool) { on_revoked(tps); },
              .step = [this] { return step(); },
              .drain = {},
              .failed = {}}) {}

void Archiver::run(const std::function<bool()>& stop) {
  scope_.run(stop);  // leaving the group at the end: open objects dropped, read again by the next owner
}

bool Archiver::step() {
  if (blocked_since_) {
    if (Clock::now() < retry_at_) {
      if (auto r = input_.poll(50ms)) backlog_.push_back(std::move(*r));  // serves rebalances
      input_.pause(input_.assignment());                                  // also the partitions assigned meanwhile
      return true;
    }
    retries_.inc();
    if (!store_sealed()) return true;  // a PUT failed again
    if (!backlog_.empty()) {           // the record whose HEAD failed, or that waited for a PUT
      auto first = std::move(backlog_.front());
      backlog_.pop_front();
      if (!process(first)) {
        backlog_.push_front(std::move(first));
        return true;
      }
    }
    unblock();  // only after a call succeeded: readiness does not flap, the fix is logged once
  }
  close_idle();
  if (blocked_since_) return true;
  std::optional<kafka::Record> record;
  if (!backlog_.empty()) {
    record = std::move(backlog_.front());
    backlog_.pop_front();
  } else {
    record = input_.poll(100ms);
  }
  if (record && !process(*record)) backlog_.push_front(std::move(*record));
  std::size_t open = 0, bytes = 0;
  for (const auto& [tp, part] : parts_)
    if (part.open) ++open, bytes += part.open->sealed ? part.open->body.size() : part.open->gzip->compressed_size();
  open_objects_.set(static_cast<double>(open));
  buffered_bytes_.set(static_cast<double>(bytes));
  return true;
}

namespace {

// The end an earlier run gave the object at `start`: its end-offset metadata, when that is a
// number not before the start (the store's answer is input like any other).
std::optional<std::int64_t> end_offset(const ObjectInfo& info, std::int64_t start) {
  const auto it = info.metadata.find("end-offset");
  if (it == info.metadata.end()) return std::nullopt;
  std::int64_t end = 0;
  const auto* first = it->second.data();
  const auto* last = first + it->second.size();
  const auto [ptr, ec] = std::from_chars(first, last, end);
  if (ec != std::errc{} || ptr != last || end < start) return std::nullopt;
  return end;
}

}  // namespace

bool Archiver::process(const kafka::Record& r) {
  const kafka::TopicPartition tp{r.topic, r.partition};
  const auto it = parts_.find(tp);
  if (it == parts_.end()) return true;  // read before a revocation: the next owner has it
  auto& part = it->second;
  const auto decoded = decode(r.value);
  if (!decoded.valid) {
    kafka::send_to_dead_letter(dead_letters_, options_.dead_letter_topic, r, "not one JSON object");
    dead_lettered_.inc();
    if (part.open) {
      part.open->last = r.offset;  // committed with the object it falls in
    } else {
      part.uncommitted = r.offset + 1;
    }
    return true;
  }
  // An event time no calendar can print (before 1970, after 9999) is taken for the Kafka timestamp.
  constexpr std::int64_t year_10000 = 253'402'300'800'000;
  const std::int64_t event = decoded.event_time && *decoded.event_time >= 0 && *decoded.event_time < year_10000
                                 ? *decoded.event_time
                                 : r.timestamp;
  const auto path = time_partition(options_.path_format, event);
  if (part.open) {
    auto& o = *part.open;
    const bool cut = o.adopted_end
                         ? r.offset > *o.adopted_end
                         : path != o.partition_path || (options_.rotate_interval.count() > 0 &&
                                                        event - o.first_event >= options_.rotate_interval.count());
    if (cut && !close(tp, part)) return false;
  }
  if (!part.open) {
    Object o;
    o.partition_path = path;
    o.key = object_key(options_.prefix, r.topic, path, r.partition, r.offset);
    o.start = r.offset;
    o.first_event = event;
    if (part.recovering) {
      ObjectInfo info;
      const auto result = store_.head(o.key, info);
      if (!result.ok()) {
        block(result, "HEAD " + o.key);
        return false;
      }
      backoff_.reset();
      const auto end = info.exists ? end_offset(info, o.start) : std::nullopt;
      if (end) {
        o.adopted_end = end;
        adopted_.inc();
      } else {
        part.recovering = false;  // the earlier run's objects end here
        if (info.exists)
          log_warn("an object without a valid end-offset is in the way: it is overwritten",
                   {{"key", o.key}, {"end-offset", info.metadata["end-offset"]}});
      }
    }
    o.gzip = std::make_unique<GzipLines>(options_.gzip_level);
    part.open = std::move(o);
  }
  auto& o = *part.open;
  const std::string_view line = decoded.line.empty() ? std::string_view(r.value) : std::string_view(decoded.line);
  o.gzip->add(line);
  o.last = r.offset;
  ++o.records;
  o.bytes += line.size() + 1;
  o.touched = Clock::now();
  const bool full = o.adopted_end ? r.offset >= *o.adopted_end
                                  : o.records >= options_.flush_records || o.bytes >= options_.flush_bytes;
  if (full) close(tp, part);  // a failure keeps the sealed object for the retry; the record is in it
  return true;
}

// Seals the open object and stores it; false when the store is down (kept sealed, retried).
bool Archiver::close(const kafka::TopicPartition& tp, Partition& part) {
  auto& o = *part.open;
  if (!o.sealed) {
    o.body = o.gzip->finish();
    o.gzip.reset();
    o.sealed = true;
  }
  if (o.records > 0) {
    const std::map<std::string, std::string> metadata{{"start-offset", std::to_string(o.start)},
                                                      {"end-offset", std::to_string(o.last)},
                                                      {"records", std::to_string(o.records)}};
    const auto result = store_.put(o.key, o.body, metadata);
    if (!result.ok()) {
      block(result, "PUT " + o.key);
      return false;
    }
    backoff_.reset();
    records_.inc(o.records);
    objects_.inc();
    object_bytes_.inc(o.body.size());
    log_debug("object stored", {{"key", o.key}, {"records", o.records}, {"bytes", o.body.size()}});
  }
  const auto next = o.last + 1;
  part.open.reset();
  part.uncommitted.reset();  // dead letters before the object are behind `next`
  commit(tp, next);
  return true;
}

bool Archiver::store_sealed() {
  for (auto& [tp, part] : parts_)
    if (part.open && part.open->sealed && !close(tp, part)) return false;
  return true;
}

void Archiver::close_idle() {
  const auto now = Clock::now();
  for (auto& [tp, part] : parts_) {
    if (part.open && options_.idle_close.count() > 0 && now - part.open->touched >= options_.idle_close) {
      if (!close(tp, part)) return;
    } else if (!part.open && part.uncommitted) {
      const auto next = *part.uncommitted;
      part.uncommitted.reset();
      commit(tp, next);
    }
  }
}

// Dead letters first (delivered before the offsets that skip them are committed), then the
// offset. A failure leaves the offset behind: the replay ends its objects where this run did.
void Archiver::commit(const kafka::TopicPartition& tp, std::int64_t next) {
  try {
    dead_letters_.flush(10s);
    input_.commit({{tp, next}});
  } catch (const kafka::KafkaError& e) {
    log_warn("offset not committed (the object is stored; a replay rewrites it as it is)",
             {{"topic", tp.topic}, {"partition", tp.partition}, {"offset", next}, {"error", e.what()}});
  }
}

void Archiver::block(const S3Result& result, const std::string& what) {
  const auto now = Clock::now();
  if (!blocked_since_) {
    blocked_since_ = now;
    input_.pause(input_.assignment());
  }
  auto wait = backoff_.next();
  if (result.retry_after) wait = std::max(wait, *result.retry_after);
  retry_at_ = now + wait;
  if (result.needs_operator() && !operator_told_) {
    operator_told_ = true;
    log_error("the store refuses the sink: consumption paused until it accepts",
              {{"call", what}, {"status", result.status}, {"error", result.error}, {"fix", result.hint()}});
  } else {
    retry_log_(LogLevel::warn, "store call failed; consumption paused, retrying",
               {{"call", what}, {"status", result.status}, {"error", result.error}, {"retry_in_ms", wait.count()}});
  }
}

void Archiver::unblock() {
  const auto seconds = std::chrono::duration<double>(Clock::now() - *blocked_since_).count();
  blocked_since_.reset();
  operator_told_ = false;
  input_.resume(input_.assignment());
  log_info("store reachable again; consumption resumed", {{"paused_seconds", seconds}});
}

void Archiver::on_assigned(const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) parts_[tp] = Partition{};
}

void Archiver::on_revoked(const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) {
    parts_.erase(tp);
    std::erase_if(backlog_, [&](const kafka::Record& r) { return r.topic == tp.topic && r.partition == tp.partition; });
  }
}

}  // namespace cryptoflow::s3
