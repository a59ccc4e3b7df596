#include "service.hpp"

#include "cryptoflow/kafka/consumer.hpp"
#include "cryptoflow/kafka/producer.hpp"
#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow::s3 {
namespace {

class ClientStore final : public Store {
 public:
  explicit ClientStore(S3Client& client) : client_(client) {}
  S3Result put(const std::string& key, const std::string& body,
               const std::map<std::string, std::string>& metadata) override {
    return client_.put(key, body, metadata, "application/gzip");
  }
  S3Result head(const std::string& key, ObjectInfo& info) override { return client_.head(key, info); }

 private:
  S3Client& client_;
};

}  // namespace

ServiceInfo service_info() {
  auto vars = common_vars();
  vars.insert(
      vars.end(),
      {
          {"S3_BUCKET", "", "bucket the objects go to (required)"},
          {"S3_PREFIX", "topics", "key prefix: <prefix>/<topic>/<time partition>/<topic>+<partition>+<offset>.json.gz"},
          {"S3_ENDPOINT", "", "MinIO or another S3-compatible store (scheme://host:port); empty: AWS for AWS_REGION"},
          {"S3_PATH_STYLE", "auto",
           "true: <endpoint>/<bucket>/<key>; false: <bucket>.<endpoint>/<key>; auto: true when S3_ENDPOINT is set"},
          {"AWS_REGION", "us-east-1", "the bucket's region (signed into every request)"},
          {"AWS_ACCESS_KEY_ID", "", "access key (required)"},
          {"AWS_SECRET_ACCESS_KEY", "", "secret key (required; never logged)"},
          {"AWS_SESSION_TOKEN", "", "session token of temporary credentials (never logged)"},
          {"S3_PATH_FORMAT", "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH",
           "time partition from the record's event time (UTC; tokens YYYY MM dd HH mm, 'quoted' literal text)"},
          {"S3_FLUSH_RECORDS", "10000", "an object closes at this many records"},
          {"S3_FLUSH_BYTES", "67108864", "an object closes at this many bytes of JSON (before gzip)"},
          {"S3_ROTATE_INTERVAL", "1h",
           "an object closes when a record's event time is this far past its first; 0: no limit"},
          {"S3_IDLE_CLOSE", "1m", "an object that got no record for this long (wall clock) closes; 0: never"},
          {"S3_GZIP_LEVEL", "6", "gzip level 1-9"},
          {"S3_MULTIPART_BYTES", "16777216", "objects from this size (compressed) go up as a multipart upload"},
          {"S3_PART_BYTES", "8388608", "multipart part size (at least 5 MiB)"},
          {"S3_TIMEOUT", "2m", "time for one S3 request"},
          {"SINK_TOPICS", "crypto.trades,crypto.candles,crypto.indicators,crypto.tickers,crypto.books",
           "topics to archive"},
          {"GROUP_ID", "s3-sink", "consumer group"},
      });
  vars.push_back(retry_after_max_var());
  return {"s3-sink", "Archives Kafka topics to S3 as gzipped JSON lines, exactly once.", vars};
}

Options parse(const Config& config) {
  Options o;
  auto& s3 = o.s3;
  s3.bucket = config.str("S3_BUCKET");
  if (s3.bucket.empty()) throw ConfigError("S3_BUCKET is required");
  s3.endpoint = config.str("S3_ENDPOINT");
  if (!s3.endpoint.empty()) parse_url(s3.endpoint, "S3_ENDPOINT", {"http", "https"});
  const auto style = config.choice("S3_PATH_STYLE", {"auto", "true", "false"});
  s3.path_style = style == "true" || (style == "auto" && !s3.endpoint.empty());
  s3.region = config.str("AWS_REGION");
  s3.credentials = {config.str("AWS_ACCESS_KEY_ID"), config.str("AWS_SECRET_ACCESS_KEY"),
                    config.str("AWS_SESSION_TOKEN")};
  if (s3.credentials.access_key_id.empty()) throw ConfigError("AWS_ACCESS_KEY_ID is required");
  if (s3.credentials.secret_access_key.empty()) throw ConfigError("AWS_SECRET_ACCESS_KEY is required");
  s3.multipart_threshold = static_cast<std::size_t>(config.integer("S3_MULTIPART_BYTES", 5 << 20, 5'000'000'000));
  s3.part_size = static_cast<std::size_t>(config.integer("S3_PART_BYTES", 5 << 20, 5'000'000'000));
  o.http.total_timeout = std::chrono::milliseconds(config.duration_ms("S3_TIMEOUT"));
  o.http.retry_after_max = std::chrono::milliseconds(config.duration_ms("RETRY_AFTER_MAX"));

  auto& a = o.archive;
  a.prefix = config.str("S3_PREFIX");
  while (!a.prefix.empty() && a.prefix.back() == '/') a.prefix.pop_back();
  a.path_format = config.str("S3_PATH_FORMAT");
  try {
    check_path_format(a.path_format);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("S3_PATH_FORMAT: ") + e.what());
  }
  a.flush_records = static_cast<std::size_t>(config.integer("S3_FLUSH_RECORDS", 1, 100'000'000));
  a.flush_bytes = static_cast<std::size_t>(config.integer("S3_FLUSH_BYTES", 1, 4'000'000'000));
  a.rotate_interval = std::chrono::milliseconds(config.duration_ms("S3_ROTATE_INTERVAL"));
  a.idle_close = std::chrono::milliseconds(config.duration_ms("S3_IDLE_CLOSE"));
  a.gzip_level = static_cast<int>(config.integer("S3_GZIP_LEVEL", 1, 9));
  a.topics = config.list("SINK_TOPICS");
  if (a.topics.empty()) throw ConfigError("SINK_TOPICS is empty");
  a.group_id = config.str("GROUP_ID");
  a.dead_letter_topic = config.str("DEAD_LETTER_TOPIC");
  o.kafka = kafka::Properties::from_config(config);
  return o;
}

int run(const Options& o, ServiceHost& host) {
  std::vector<TopicRequest> topics;
  for (const auto& t : o.archive.topics) topics.push_back({t, {}});
  host.ensure_topics(topics);
  S3Client client(o.s3, o.http);
  ClientStore store(client);
  kafka::KafkaConsumer input(o.kafka, o.archive.group_id);
  kafka::KafkaProducer dead_letters(o.kafka, host.metrics());
  Archiver archiver(o.archive, input, dead_letters, store, host.metrics());
  const auto ready = host.readiness().add("the store accepts writes", [&] { return archiver.ready(); });
  log_info(
      "archiving",
      {{"to", client.url(o.archive.prefix + "/")}, {"topics", o.archive.topics.size()}, {"group", o.archive.group_id}});
  archiver.run(host.stop_token());
  return 0;
}

}  // namespace cryptoflow::s3
