#pragma once
// Writes line-protocol batches to InfluxDB: v2 (/api/v2/write, Authorization: Token, org,
// bucket) or v1 (/write, db, optional basic auth), precision=ms. Classifies the answer so the
// sink knows whether to retry (429, 5xx, transport errors) or isolate a rejected record (400).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "cryptoflow/net/http.hpp"

namespace cryptoflow::influx {

struct InfluxOptions {
  std::string url = "http://localhost:8086";
  std::string api = "v2";  // v1 or v2
  std::string token, org = "crypto", bucket = "crypto";
  std::string db = "crypto", username, password;
  bool gzip = true;  // Content-Encoding: gzip request bodies
};

enum class WriteStatus { ok, retry, rejected };

struct WriteResult {
  WriteStatus status = WriteStatus::ok;
  long http_status = 0;
  std::string message;  // server's or transport's error text; never contains credentials
  std::optional<std::chrono::milliseconds> retry_after;
};

class InfluxWriter {
 public:
  explicit InfluxWriter(InfluxOptions options, HttpOptions http = {});
  WriteResult write(std::string_view lines);
  // v1 only: CREATE DATABASE (idempotent). Returns an error text, empty on success.
  std::string ensure_database();
  // The write URL (without credentials), for logs and tests.
  [[nodiscard]] const std::string& write_url() const { return write_url_; }
  [[nodiscard]] std::string query(const std::string& influxql);  // v1 /query (for tests/demo)

 private:
  InfluxOptions options_;
  HttpClient http_;
  std::string write_url_;
  std::vector<std::string> auth_;     // v1 basic auth, for every request
  std::vector<std::string> headers_;  // of a write
};

}  // namespace cryptoflow::influx
