#pragma once
// The s3-sink's loop: each assigned partition has at most one open object; a record is added to
// it, and the object is closed (stored, then its offsets committed) by rules that depend only on
// the records, so that a replay after a crash cuts the same objects:
//   - the record's time partition differs from the object's (an hour turns, a late record);
//   - the record's event time is rotate_interval or more past the object's first record;
//   - the object reached flush_records records or flush_bytes bytes (uncompressed).
// One rule depends on the wall clock: an object that got no record for idle_close is closed, so
// that a quiet partition does not keep its records from the archive. It stays exactly-once
// because every object carries its last offset (x-amz-meta-end-offset): after an assignment the
// sink looks up (HEAD) the key each new object would get, and when an earlier run stored it,
// ends the object where that run did. A replay therefore writes the same keys with the same
// bytes and never a second copy of a record, whatever closed the objects it repeats.
//
// The store down (any failed PUT or HEAD): every partition is paused, nothing is committed, the
// call is retried with exponential backoff (Retry-After honoured, capped); a 403 or a missing
// bucket is logged once with what to fix. Records that are not one JSON object go to the
// dead-letter topic, and are committed with the object they fall in.
//
// Revoked partitions drop their open object (the next owner reads it again from the committed
// offset); so does a stop. Nothing is stored from a thread other than the polling one, so no
// store call is in flight when a rebalance hands a partition over.
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive.hpp"
#include "cryptoflow/kafka/client.hpp"
#include "cryptoflow/kafka/consumer_scope.hpp"
#include "cryptoflow/runtime/backoff.hpp"
#include "cryptoflow/runtime/log.hpp"
#include "cryptoflow/runtime/metrics.hpp"
#include "s3_client.hpp"

namespace cryptoflow::s3 {

struct ArchiveOptions {
  std::string prefix = "topics";
  std::string path_format = "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH";
  std::size_t flush_records = 10000;
  std::size_t flush_bytes = 64u << 20;
  std::chrono::milliseconds rotate_interval{3'600'000};  // event time; 0: no limit
  std::chrono::milliseconds idle_close{60'000};          // wall clock; 0: never
  int gzip_level = 6;
  std::vector<std::string> topics;
  std::string group_id = "s3-sink";
  std::string dead_letter_topic = "crypto.dead-letter";
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{30'000};
};

// Where objects go: S3Client in the service, a map in the unit tests.
class Store {
 public:
  virtual ~Store() = default;
  virtual S3Result put(const std::string& key, const std::string& body,
                       const std::map<std::string, std::string>& metadata) = 0;
  virtual S3Result head(const std::string& key, ObjectInfo& info) = 0;
};

class Archiver {
 public:
  Archiver(ArchiveOptions options, kafka::Consumer& input, kafka::Producer& dead_letters, Store& store,
           MetricsRegistry& metrics);
  // Its ConsumerScope closes the consumer (leaves the group) if run() did not: the rebalance
  // callbacks point here, and s3-sink's run() destroys the archiver before the consumer, also
  // when run() throws.
  ~Archiver() = default;
  Archiver(const Archiver&) = delete;
  Archiver& operator=(const Archiver&) = delete;
  // Subscribes and runs until stop() is true, then leaves the group (open objects dropped).
  void run(const std::function<bool()>& stop);
  [[nodiscard]] bool ready() const { return !blocked_since_.has_value(); }

 private:
  struct Object {
    std::string partition_path, key;
    std::int64_t start = 0, last = 0;  // offsets of the first and last record it covers
    std::int64_t first_event = 0;
    std::size_t records = 0, bytes = 0;
    std::unique_ptr<GzipLines> gzip;          // while open
    std::string body;                         // once sealed: the .gz
    std::optional<std::int64_t> adopted_end;  // the end an earlier run gave this object
    bool sealed = false;                      // closed, not yet stored
    std::chrono::steady_clock::time_point touched;
  };
  struct Partition {
    bool recovering = true;  // keys may exist from an earlier run: HEAD before opening
    std::optional<Object> open;
    std::optional<std::int64_t> uncommitted;  // dead-lettered records outside any object: next offset
  };

  bool step();                                // one turn of the loop
  bool process(const kafka::Record& record);  // false: the store is down, the record was not taken
  bool close(const kafka::TopicPartition& tp, Partition& part);
  bool store_sealed();
  void close_idle();
  void commit(const kafka::TopicPartition& tp, std::int64_t next);
  void block(const S3Result& result, const std::string& what);
  void unblock();
  void on_assigned(const std::vector<kafka::TopicPartition>& tps);
  void on_revoked(const std::vector<kafka::TopicPartition>& tps);

  ArchiveOptions options_;
  kafka::Consumer& input_;
  kafka::Producer& dead_letters_;
  Store& store_;
  std::map<kafka::TopicPartition, Partition> parts_;
  std::deque<kafka::Record> backlog_;  // read but not yet taken (the store was down)
  std::optional<std::chrono::steady_clock::time_point> blocked_since_;
  std::chrono::steady_clock::time_point retry_at_;
  bool operator_told_ = false;
  Backoff backoff_;
  Counter& records_;
  Counter& objects_;
  Counter& object_bytes_;
  Counter& adopted_;
  Counter& retries_;
  Counter& dead_lettered_;
  Gauge& open_objects_;
  Gauge& buffered_bytes_;
  RateLimitedLog retry_log_;
  kafka::ConsumerScope scope_;  // last: it closes the consumer first, while what its callbacks use is there
};

}  // namespace cryptoflow::s3
