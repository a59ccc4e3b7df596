#pragma once
// What an archived object is: its key (Kafka Connect's S3 sink layout), its time partition (from
// the record's event time), and its body (JSON lines, gzip), built record by record.
//
//   <prefix>/<topic>/<time partition>/<topic>+<kafka partition>+<start offset>.json.gz
//   topics/crypto.trades/year=2024/month=03/day=09/hour=14/crypto.trades+3+0000012345.json.gz
//
// The start offset is zero-padded to 10 digits, as Connect's default, so that names sort in
// offset order.
#include <zlib.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cryptoflow::s3 {

// Connect's path.format (Joda style): YYYY, MM, dd, HH, mm are replaced by the UTC fields of the
// time; text in single quotes is literal ('' is a quote); other characters are copied.
// Throws std::invalid_argument for a letter outside quotes that is not one of those tokens.
std::string time_partition(std::string_view format, std::int64_t epoch_ms);
void check_path_format(std::string_view format);  // as time_partition, without a time

std::string object_key(std::string_view prefix, std::string_view topic, std::string_view partition_path,
                       std::int32_t kafka_partition, std::int64_t start_offset);

// The event time of a cryptoflow message: trade_time (trades), start (candles), last_updated
// (tickers), end (indicators); nullopt when the value is no JSON object or has none of them.
// Validates the JSON: `valid` is false for text that is not one JSON object. A value written over
// several lines is archived re-serialised on one (`line`; empty: the value as it is).
struct Decoded {
  bool valid = false;
  std::optional<std::int64_t> event_time;
  std::string line;
};
Decoded decode(std::string_view value);

// A gzip stream built line by line. The same lines give the same bytes whatever the calls'
// boundaries (deflate with Z_NO_FLUSH, no file name, mtime 0), so a replay writes an identical
// object.
class GzipLines {
 public:
  explicit GzipLines(int level = 6);
  ~GzipLines();
  GzipLines(const GzipLines&) = delete;
  GzipLines& operator=(const GzipLines&) = delete;
  void add(std::string_view line);  // appends line + '\n'
  std::string finish();             // the complete .gz; the object is spent afterwards
  [[nodiscard]] std::size_t compressed_size() const { return out_.size(); }

 private:
  void run(int flush);
  z_stream z_{};
  std::string out_;
};

}  // namespace cryptoflow::s3
