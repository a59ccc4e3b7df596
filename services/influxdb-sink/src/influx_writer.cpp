#include "influx_writer.hpp"

#include <cstdlib>
#include <stdexcept>

namespace cryptoflow::influx {

InfluxWriter::InfluxWriter(InfluxOptions options, HttpOptions http) : options_(std::move(options)), http_(http) {
  while (!options_.url.empty() && options_.url.back() == '/') options_.url.pop_back();
  if (options_.api == "v2") {
    write_url_ = options_.url + "/api/v2/write?org=" + http_.escape(options_.org) +
                 "&bucket=" + http_.escape(options_.bucket) + "&precision=ms";
    if (!options_.token.empty()) headers_.push_back("Authorization: Token " + options_.token);
  } else {
    write_url_ = options_.url + "/write?db=" + http_.escape(options_.db) + "&precision=ms";
    if (!options_.username.empty())
      auth_.push_back("Authorization: Basic " + base64(options_.username + ":" + options_.password));
    headers_ = auth_;
  }
  headers_.push_back("Content-Type: text/plain; charset=utf-8");
  if (options_.gzip) headers_.push_back("Content-Encoding: gzip");
}

WriteResult InfluxWriter::write(std::string_view lines) {
  WriteResult r;
  const auto compressed = options_.gzip ? gzip(lines) : std::string();
  const auto resp = http_.post(write_url_, options_.gzip ? std::string_view(compressed) : lines, headers_);
  r.http_status = resp.status;
  if (!resp.error.empty()) {
    r.status = WriteStatus::retry;
    r.message = resp.error;
    return r;
  }
  if (resp.status >= 200 && resp.status < 300) return r;
  r.message = resp.body.substr(0, 500);
  r.retry_after = resp.retry_after;
  // 400: a record InfluxDB refuses (bad syntax, field type conflict); 413: the batch is too
  // large — both are resolved by splitting. 401/403/404 are configuration problems: retrying
  // keeps the data in Kafka until an operator fixes them. 429 and 5xx: back off and retry.
  r.status =
      (resp.status == 400 || resp.status == 413 || resp.status == 422) ? WriteStatus::rejected : WriteStatus::retry;
  return r;
}

std::string InfluxWriter::ensure_database() {
  if (options_.api != "v1") return {};
  auto h = auth_;
  h.push_back("Content-Type: application/x-www-form-urlencoded");
  const auto resp =
      http_.post(options_.url + "/query", "q=" + http_.escape("CREATE DATABASE \"" + options_.db + "\""), h);
  if (!resp.error.empty()) return resp.error;
  if (!resp.ok()) return "HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 200);
  return {};
}

std::string InfluxWriter::query(const std::string& influxql) {
  const auto resp = http_.get(
      options_.url + "/query?db=" + http_.escape(options_.db) + "&epoch=ms&q=" + http_.escape(influxql), auth_);
  if (!resp.ok()) throw std::runtime_error("influx query failed: " + (resp.error.empty() ? resp.body : resp.error));
  return resp.body;
}

}  // namespace cryptoflow::influx
