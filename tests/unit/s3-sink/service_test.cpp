// s3-sink's configuration: the contract's defaults, and every bad value refused naming its variable.
#include "s3-sink/src/service.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace cryptoflow;

namespace {

const Config::Env kRequired = {{"S3_BUCKET", "archive"}, {"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "s"}};

s3::Options parse(Config::Env env) {
  for (const auto& [k, v] : kRequired) env.try_emplace(k, v);
  return s3::parse(Config(s3::service_info().vars, std::move(env)));
}

std::string error_of(Config::Env env, bool with_required = true) {
  if (with_required)
    for (const auto& [k, v] : kRequired) env.try_emplace(k, v);
  return test::config_error(s3::service(), std::move(env));
}

}  // namespace

TEST_CASE("s3-sink: the contract's defaults") {
  const auto o = parse({});
  CHECK(o.s3.bucket == "archive");
  CHECK(o.s3.endpoint.empty());
  CHECK_FALSE(o.s3.path_style);  // AWS: virtual-hosted style
  CHECK(o.s3.region == "us-east-1");
  CHECK(o.s3.multipart_threshold == 16u << 20);
  CHECK(o.s3.part_size == 8u << 20);
  CHECK(o.http.total_timeout == std::chrono::minutes(2));
  CHECK(o.archive.prefix == "topics");
  CHECK(o.archive.path_format == "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH");
  CHECK(o.archive.flush_records == 10'000);
  CHECK(o.archive.flush_bytes == 64u << 20);
  CHECK(o.archive.rotate_interval == std::chrono::hours(1));
  CHECK(o.archive.idle_close == std::chrono::minutes(1));
  CHECK(o.archive.gzip_level == 6);
  CHECK(o.archive.topics == std::vector<std::string>{"crypto.trades", "crypto.candles", "crypto.indicators",
                                                     "crypto.tickers", "crypto.books"});
  CHECK(o.archive.group_id == "s3-sink");
  CHECK(o.archive.dead_letter_topic == "crypto.dead-letter");
  // An endpoint (MinIO) switches to path style unless told otherwise; a trailing / of the prefix goes.
  const auto minio = parse({{"S3_ENDPOINT", "http://minio:9000"}, {"S3_PREFIX", "raw/"}});
  CHECK(minio.s3.path_style);
  CHECK(minio.archive.prefix == "raw");
  CHECK_FALSE(parse({{"S3_ENDPOINT", "http://minio:9000"}, {"S3_PATH_STYLE", "false"}}).s3.path_style);
}

TEST_CASE("s3-sink: missing and bad values are refused naming the variable") {
  CHECK(error_of({{"AWS_ACCESS_KEY_ID", "a"}, {"AWS_SECRET_ACCESS_KEY", "s"}}, false) == "S3_BUCKET is required");
  CHECK(error_of({{"S3_BUCKET", "b"}, {"AWS_SECRET_ACCESS_KEY", "s"}}, false) == "AWS_ACCESS_KEY_ID is required");
  CHECK(error_of({{"S3_BUCKET", "b"}, {"AWS_ACCESS_KEY_ID", "a"}}, false) == "AWS_SECRET_ACCESS_KEY is required");
  CHECK(error_of({{"S3_ENDPOINT", "minio:9000"}}).find("S3_ENDPOINT") == 0);
  CHECK(error_of({{"S3_PATH_STYLE", "yes"}}).find("S3_PATH_STYLE='yes'") == 0);
  CHECK(error_of({{"S3_PATH_FORMAT", "YYYY/'open"}}).find("S3_PATH_FORMAT: ") == 0);
  CHECK(error_of({{"S3_FLUSH_RECORDS", "0"}}).find("S3_FLUSH_RECORDS=0 is out of range") == 0);
  CHECK(error_of({{"S3_GZIP_LEVEL", "10"}}).find("S3_GZIP_LEVEL=10 is out of range") == 0);
  CHECK(error_of({{"S3_PART_BYTES", "1024"}}).find("S3_PART_BYTES=1024 is out of range") == 0);
  CHECK(error_of({{"S3_TIMEOUT", "soon"}}).find("S3_TIMEOUT") == 0);
  CHECK(error_of({{"SINK_TOPICS", " , "}}) == "SINK_TOPICS is empty");
}
