#pragma once
// The S3 calls the archive needs (PUT, multipart upload, HEAD, GET), signed with sigv4.hpp and
// sent with libs/net's HttpClient. Works with AWS (virtual-host addressing) and with MinIO and
// other compatible stores (S3_ENDPOINT, path-style).
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "cryptoflow/net/http.hpp"
#include "sigv4.hpp"

namespace cryptoflow::s3 {

struct S3Options {
  std::string endpoint;  // scheme://host[:port]; empty: https://s3.<region>.amazonaws.com
  std::string bucket;
  std::string region = "us-east-1";
  bool path_style = false;  // endpoint/bucket/key instead of bucket.endpoint/key
  Credentials credentials;
  std::size_t multipart_threshold = 16u << 20;  // bodies from this size go up in parts
  std::size_t part_size = 8u << 20;             // S3's minimum is 5 MiB (all parts but the last)
};

struct S3Result {
  long status = 0;    // HTTP status; 0 when no answer came (see error)
  std::string code;   // S3's error code (SignatureDoesNotMatch, SlowDown, NoSuchBucket ...)
  std::string error;  // what went wrong, for the log
  std::optional<std::chrono::milliseconds> retry_after;
  [[nodiscard]] bool ok() const { return status >= 200 && status < 300 && error.empty(); }
  // Credentials, clock or permissions: an operator must act (reported once, then retried quietly).
  [[nodiscard]] bool needs_operator() const { return status == 403 || status == 400 || code == "NoSuchBucket"; }
  [[nodiscard]] std::string hint() const;
};

struct ObjectInfo {
  bool exists = false;
  std::size_t size = 0;
  std::map<std::string, std::string> metadata;  // x-amz-meta-* without the prefix
};

class S3Client {
 public:
  S3Client(S3Options options, HttpOptions http);
  // One PUT, or a multipart upload when the body reaches multipart_threshold (aborted when a
  // step fails: no part is left behind to be billed).
  S3Result put(const std::string& key, const std::string& body, const std::map<std::string, std::string>& metadata,
               const std::string& content_type);
  S3Result head(const std::string& key, ObjectInfo& info);  // 404 is ok() with info.exists false
  S3Result get(const std::string& key, std::string& body);
  // Every key under the prefix, in the store's order (ListObjectsV2, page by page).
  S3Result list(const std::string& prefix, std::vector<std::string>& keys);
  [[nodiscard]] std::string url(const std::string& key) const;  // where the key lives, for logs

 private:
  struct Call {
    std::string method, key, query;
    std::vector<std::pair<std::string, std::string>> headers;
    const std::string* body = nullptr;
  };
  HttpResponse send(const Call& call);
  [[nodiscard]] std::string path(const std::string& key) const;  // percent-encoded, with the bucket if path-style
  S3Result put_single(const std::string& key, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers);
  S3Result put_multipart(const std::string& key, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers);

  S3Options options_;
  HttpClient http_;
  std::string scheme_, host_;  // host_ with the port when it is not the scheme's
};

// An S3 answer as a result: status, error code and message from the XML body.
S3Result result_of(const HttpResponse& response);

}  // namespace cryptoflow::s3
