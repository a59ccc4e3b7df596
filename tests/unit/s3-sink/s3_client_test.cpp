// What the S3 client makes of addresses and answers, without a server: where a key lives for
// AWS (virtual host) and for MinIO (path-style), and how error bodies become results.
#include "s3-sink/src/s3_client.hpp"

#include <catch2/catch.hpp>

using namespace cryptoflow;
using namespace cryptoflow::s3;

TEST_CASE("S3 addresses: AWS virtual host by region, an endpoint path-style, keys encoded once") {
  S3Options aws;
  aws.bucket = "my-archive";
  aws.region = "eu-west-1";
  CHECK(S3Client(aws, {}).url("topics/t/year=2024/t+0+0000000001.json.gz") ==
        "https://my-archive.s3.eu-west-1.amazonaws.com/topics/t/year%3D2024/t%2B0%2B0000000001.json.gz");
  S3Options minio;
  minio.endpoint = "http://minio:9000";
  minio.bucket = "crypto-archive";
  minio.path_style = true;
  CHECK(S3Client(minio, {}).url("a b") == "http://minio:9000/crypto-archive/a%20b");
  minio.endpoint = "https://[::1]:443";
  CHECK(S3Client(minio, {}).url("k") == "https://[::1]/crypto-archive/k");  // the scheme's port is left out
  minio.endpoint = "minio:9000";
  CHECK_THROWS(S3Client(minio, {}));
}

TEST_CASE("S3 answers: SlowDown and 5xx are retried quietly, 403 and NoSuchBucket need an operator") {
  HttpResponse slow;
  slow.status = 503;
  slow.body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
  slow.retry_after = std::chrono::milliseconds(2000);
  const auto r = result_of(slow);
  CHECK_FALSE(r.ok());
  CHECK(r.code == "SlowDown");
  CHECK(r.error == "SlowDown: Please reduce your request rate.");
  CHECK(r.retry_after == std::chrono::milliseconds(2000));
  CHECK_FALSE(r.needs_operator());

  HttpResponse completed_badly;  // CompleteMultipartUpload: 200, and the error in the body
  completed_badly.status = 200;
  completed_badly.body = "<?xml version=\"1.0\"?><Error><Code>InternalError</Code><Message>x</Message></Error>";
  CHECK_FALSE(result_of(completed_badly).ok());
  CHECK(result_of(completed_badly).status == 500);

  HttpResponse skew;
  skew.status = 403;
  skew.body = "<Error><Code>RequestTimeTooSkewed</Code><Message>...</Message></Error>";
  CHECK(result_of(skew).needs_operator());
  CHECK(result_of(skew).hint() == "this machine's clock is more than 15 minutes off");

  HttpResponse refused;
  refused.error = "Failed to connect";
  CHECK(result_of(refused).status == 0);
  CHECK_FALSE(result_of(refused).needs_operator());

  HttpResponse absent;
  absent.status = 404;
  CHECK(result_of(absent).error.empty());  // HEAD of a missing key: an answer, not a failure
}
