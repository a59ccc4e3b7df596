#pragma once
// AWS Signature Version 4 (the S3 flavour), without the AWS SDK: the canonical request, the
// string to sign and the Authorization header, as pure functions so that each step is tested
// against the published vectors.
//
// curl 7.88's own CURLOPT_AWS_SIGV4 neither sorts nor re-encodes the query string (fixed in
// curl 8.3), which breaks every multipart request (?partNumber=1&uploadId=...): the canonical
// query is built here, from the query the request really sends.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cryptoflow::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials (STS); signed as x-amz-security-token
};

struct SignRequest {
  std::string method;                                        // GET, PUT, POST, HEAD, DELETE
  std::string path;                                          // as sent: already percent-encoded (uri_encode)
  std::string query;                                         // as sent, without '?'; any order, any encoding
  std::vector<std::pair<std::string, std::string>> headers;  // including host; names any case
  std::string payload_sha256;                                // hex, or UNSIGNED-PAYLOAD
};

struct Signed {
  std::string canonical_request;
  std::string string_to_sign;
  std::string authorization;                                 // the Authorization header's value
  std::vector<std::pair<std::string, std::string>> headers;  // x-amz-date (+ x-amz-security-token) to add
};

// amz_date: "YYYYMMDDTHHMMSSZ". The x-amz-date (and x-amz-security-token) headers are added to
// what is signed; the caller sends them (Signed::headers).
Signed sign(const SignRequest& request, const Credentials& credentials, std::string_view region,
            std::string_view service, std::string_view amz_date);

// RFC 3986 percent-encoding as SigV4 wants it: A-Z a-z 0-9 - . _ ~ kept, everything else %XX
// (upper-case hex); '/' kept when keep_slash (object keys in a path).
std::string uri_encode(std::string_view s, bool keep_slash);
// The query string re-encoded and sorted by name, then value (bytes, not locale).
std::string canonical_query(std::string_view query);

std::string sha256_hex(std::string_view data);
std::string amz_date_now();  // the current UTC time as YYYYMMDDTHHMMSSZ

}  // namespace cryptoflow::s3
