#include "s3_client.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "cryptoflow/runtime/config.hpp"

namespace cryptoflow::s3 {
namespace {

std::string xml_value(const std::string& body, const std::string& tag) {
  const auto open = body.find("<" + tag + ">");
  if (open == std::string::npos) return {};
  const auto begin = open + tag.size() + 2;
  const auto end = body.find("</" + tag + ">", begin);
  return end == std::string::npos ? std::string{} : body.substr(begin, end - begin);
}

std::string xml_unescape(std::string s) {
  static const std::pair<const char*, char> entities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  for (const auto& [entity, ch] : entities)
    for (auto at = s.find(entity); at != std::string::npos; at = s.find(entity, at + 1))
      s.replace(at, std::strlen(entity), 1, ch);
  return s;
}

}  // namespace

S3Result result_of(const HttpResponse& response) {
  S3Result r;
  r.status = response.status;
  r.retry_after = response.retry_after;
  if (!response.error.empty()) {
    r.error = response.error;
    return r;
  }
  // CompleteMultipartUpload may answer 200 with an <Error> body: that is an error too.
  if (response.body.find("<Error>") != std::string::npos) {
    r.code = xml_value(response.body, "Code");
    r.error = r.code + ": " + xml_value(response.body, "Message");
    if (r.status >= 200 && r.status < 300) r.status = 500;
  } else if (!r.ok() && r.status != 404) {
    r.error = "HTTP " + std::to_string(r.status);
  }
  return r;
}

std::string S3Result::hint() const {
  if (code == "SignatureDoesNotMatch") return "AWS_SECRET_ACCESS_KEY does not belong to AWS_ACCESS_KEY_ID";
  if (code == "InvalidAccessKeyId") return "AWS_ACCESS_KEY_ID is not known to the store";
  if (code == "RequestTimeTooSkewed") return "this machine's clock is more than 15 minutes off";
  if (code == "ExpiredToken" || code == "InvalidToken") return "AWS_SESSION_TOKEN has expired or is invalid";
  if (code == "NoSuchBucket") return "S3_BUCKET does not exist (create it, or fix the name)";
  if (code == "AuthorizationHeaderMalformed") return "AWS_REGION is not the bucket's region";
  if (status == 403) return "the credentials may not write to S3_BUCKET (check its policy)";
  return "check S3_ENDPOINT, S3_BUCKET and AWS_REGION";
}

S3Client::S3Client(S3Options options, HttpOptions http) : options_(std::move(options)), http_(http) {
  if (options_.endpoint.empty()) options_.endpoint = "https://s3." + options_.region + ".amazonaws.com";
  const auto u = parse_url(options_.endpoint, "S3_ENDPOINT", {"http", "https"});
  scheme_ = u.scheme;
  // The Host header as curl sends it: the port only when it is not the scheme's.
  const bool default_port = (u.scheme == "https" && u.port == "443") || (u.scheme == "http" && u.port == "80");
  host_ = default_port ? u.authority().substr(0, u.authority().rfind(':')) : u.authority();
  if (!options_.path_style) host_ = options_.bucket + "." + host_;
  options_.part_size = std::max<std::size_t>(options_.part_size, 5u << 20);
}

// Appends, not "/" + std::string&&: GCC 12 at -O2/-O3 warns (-Wrestrict, a false positive) on
// operator+(const char*, string&&), and the Release build treats warnings as errors.
std::string S3Client::path(const std::string& key) const {
  std::string p;
  if (options_.path_style) p.append("/").append(uri_encode(options_.bucket, false));
  if (!key.empty() || !options_.path_style) p.append("/").append(uri_encode(key, true));  // the bucket: /bucket
  return p;
}

std::string S3Client::url(const std::string& key) const {
  std::string u = scheme_;
  u.append("://").append(host_).append(path(key));
  return u;
}

HttpResponse S3Client::send(const Call& call) {
  static const std::string empty;
  const std::string& body = call.body ? *call.body : empty;
  const std::string path = this->path(call.key);
  const std::string payload = sha256_hex(body);
  SignRequest request{call.method, path, call.query, call.headers, payload};
  request.headers.emplace_back("host", host_);
  request.headers.emplace_back("x-amz-content-sha256", payload);
  const auto s = sign(request, options_.credentials, options_.region, "s3", amz_date_now());
  std::vector<std::string> headers;
  for (const auto& [name, value] : call.headers) headers.push_back(name + ": " + value);
  headers.push_back("x-amz-content-sha256: " + payload);
  for (const auto& [name, value] : s.headers) headers.push_back(name + ": " + value);
  headers.push_back("Authorization: " + s.authorization);
  const bool typed =
      std::any_of(call.headers.begin(), call.headers.end(), [](const auto& h) { return h.first == "Content-Type"; });
  if (!typed) headers.push_back("Content-Type:");  // not curl's form-urlencoded default
  std::string target = scheme_ + "://" + host_ + path;
  if (!call.query.empty()) target += "?" + call.query;
  return http_.request(call.method, target, headers, body);
}

S3Result S3Client::put(const std::string& key, const std::string& body,
                       const std::map<std::string, std::string>& metadata, const std::string& content_type) {
  std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", content_type}};
  for (const auto& [name, value] : metadata) headers.emplace_back("x-amz-meta-" + name, value);
  return body.size() >= options_.multipart_threshold ? put_multipart(key, body, headers)
                                                     : put_single(key, body, headers);
}

S3Result S3Client::put_single(const std::string& key, const std::string& body,
                              const std::vector<std::pair<std::string, std::string>>& headers) {
  return result_of(send({"PUT", key, "", headers, &body}));
}

S3Result S3Client::put_multipart(const std::string& key, const std::string& body,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  const auto started = send({"POST", key, "uploads", headers, nullptr});
  auto result = result_of(started);
  if (!result.ok()) return result;
  const auto upload_id = xml_value(started.body, "UploadId");
  if (upload_id.empty()) return {500, "", "CreateMultipartUpload answered without an UploadId", {}};
  const std::string id_query = "uploadId=" + uri_encode(upload_id, false);
  std::string complete = "<CompleteMultipartUpload>";
  int number = 1;
  for (std::size_t at = 0; at < body.size(); at += options_.part_size, ++number) {
    const std::string part = body.substr(at, options_.part_size);
    const auto answer = send({"PUT", key, "partNumber=" + std::to_string(number) + "&" + id_query, {}, &part});
    result = result_of(answer);
    const auto etag = answer.headers.find("etag");
    if (result.ok() && etag == answer.headers.end()) result = {500, "", "UploadPart answered without an ETag", {}};
    if (!result.ok()) {
      send({"DELETE", key, id_query, {}, nullptr});  // best effort: the store's lifecycle rule catches the rest
      return result;
    }
    complete += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" + etag->second + "</ETag></Part>";
  }
  complete += "</CompleteMultipartUpload>";
  result = result_of(send({"POST", key, id_query, {{"Content-Type", "application/xml"}}, &complete}));
  if (!result.ok()) send({"DELETE", key, id_query, {}, nullptr});
  return result;
}

S3Result S3Client::head(const std::string& key, ObjectInfo& info) {
  const auto response = send({"HEAD", key, "", {}, nullptr});
  auto result = result_of(response);
  info = {};
  if (response.error.empty() && response.status == 404) {
    result.status = 200;  // known absent: that is an answer
    return result;
  }
  if (!result.ok() && result.code.empty() && (result.status == 400 || result.status == 403)) {
    // A HEAD answer has no body, so no error code: a signed GET of the bucket's location says
    // why (SignatureDoesNotMatch, InvalidAccessKeyId, ExpiredToken, ...), and the hint follows it.
    const auto probe = result_of(send({"GET", "", "location", {}, nullptr}));
    if (!probe.code.empty()) {
      result.code = probe.code;
      result.error = "HTTP " + std::to_string(result.status) + " (" + probe.error + ")";
    }
  }
  if (!result.ok()) return result;
  info.exists = true;
  for (const auto& [name, value] : response.headers) {
    if (name.starts_with("x-amz-meta-")) info.metadata[name.substr(11)] = value;
    if (name == "content-length") std::from_chars(value.data(), value.data() + value.size(), info.size);
  }
  return result;
}

S3Result S3Client::get(const std::string& key, std::string& body) {
  auto response = send({"GET", key, "", {}, nullptr});
  auto result = result_of(response);
  if (result.ok()) body = std::move(response.body);
  return result;
}

S3Result S3Client::list(const std::string& prefix, std::vector<std::string>& keys) {
  keys.clear();
  std::string token;
  for (;;) {
    std::string query = "list-type=2&prefix=" + uri_encode(prefix, false);
    if (!token.empty()) query += "&continuation-token=" + uri_encode(token, false);
    const auto response = send({"GET", "", query, {}, nullptr});
    auto result = result_of(response);
    if (!result.ok()) return result;
    const std::string& body = response.body;
    for (auto at = body.find("<Key>"); at != std::string::npos; at = body.find("<Key>", at + 5)) {
      const auto end = body.find("</Key>", at);
      if (end == std::string::npos) break;
      keys.push_back(xml_unescape(body.substr(at + 5, end - at - 5)));
    }
    token = xml_value(body, "NextContinuationToken");
    if (xml_value(body, "IsTruncated") != "true" || token.empty()) return result;
  }
}

}  // namespace cryptoflow::s3
