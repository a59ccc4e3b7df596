#pragma once
// Blocking HTTP client over libcurl: one connection kept alive per client, TLS verification
// on, connect and total timeouts. Used by the sinks and the REST producers.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cryptoflow {

struct HttpResponse {
  long status = 0;  // 0 when the request did not complete (see error)
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string error;                           // transport error (connection refused, timeout, TLS ...)
  double seconds = 0;                          // total time
  // The server's Retry-After, at most HttpOptions::retry_after_max; none when absent or invalid.
  std::optional<std::chrono::milliseconds> retry_after;
  [[nodiscard]] bool ok() const { return error.empty() && status >= 200 && status < 300; }
};

struct HttpOptions {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds total_timeout{10000};
  bool verify_tls = true;
  // Caps Retry-After: a 418 ban from Binance can say days, and a sink must not sleep that long
  // without trying (RETRY_AFTER_MAX in each service that speaks HTTP).
  std::chrono::milliseconds retry_after_max{60000};
};

// A Retry-After value (RFC 9110: delay-seconds or an HTTP-date) as a wait from `now`, at most
// `cap`; nullopt when it is neither, or not in the future.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value, std::chrono::milliseconds cap,
                                                           std::chrono::system_clock::time_point now);

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse request(const std::string& method, const std::string& url, const std::vector<std::string>& headers = {},
                       std::string_view body = {});
  HttpResponse get(const std::string& url, const std::vector<std::string>& headers = {}) {
    return request("GET", url, headers);
  }
  HttpResponse post(const std::string& url, std::string_view body, const std::vector<std::string>& headers = {}) {
    return request("POST", url, headers, body);
  }

  // Percent-encodes a query parameter value.
  [[nodiscard]] std::string escape(const std::string& s) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Standard base64 with padding (RFC 4648), e.g. for HTTP basic auth.
std::string base64(std::string_view in);

// gzip (RFC 1952) for request bodies (Content-Encoding: gzip) and for tests.
std::string gzip(std::string_view data);
std::optional<std::string> gunzip(std::string_view data);  // nullopt if not valid gzip

}  // namespace cryptoflow
