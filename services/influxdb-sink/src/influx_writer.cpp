#include "influx_writer.hpp"

#include <cstdlib>
#include <stdexcept>

namespace cryptoflow::influx {

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += i + 1 < in.size() ? kAlphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

InfluxWriter::InfluxWriter(InfluxOptions options, HttpOptions http) : options_(std::move(options)), http_(http) {
  while (!options_.url.empty() && options_.url.back() == '/') options_.url.pop_back();
  if (options_.api == "v2") {
    write_url_ = options_.url + "/api/v2/write?org=" + http_.escape(options_.org) +
                 "&bucket=" + http_.escape(options_.bucket) + "&precision=ms";
    if (!options_.token.empty()) headers_.push_back("Authorization: Token " + options_.token);
  } else {
    write_url_ = options_.url + "/write?db=" + http_.escape(options_.db) + "&precision=ms";
    if (!options_.username.empty())
      headers_.push_back("Authorization: Basic " + base64(options_.username + ":" + options_.password));
  }
  headers_.push_back("Content-Type: text/plain; charset=utf-8");
  if (options_.gzip) headers_.push_back("Content-Encoding: gzip");
}

WriteResult InfluxWriter::write(const std::string& lines) {
  WriteResult r;
  const auto resp = http_.post(write_url_, options_.gzip ? gzip(lines) : lines, headers_);
  r.http_status = resp.status;
  if (!resp.error.empty()) {
    r.status = WriteStatus::retry;
    r.message = resp.error;
    return r;
  }
  if (resp.status >= 200 && resp.status < 300) return r;
  r.message = resp.body.substr(0, 500);
  if (auto it = resp.headers.find("retry-after"); it != resp.headers.end()) {
    const long secs = std::strtol(it->second.c_str(), nullptr, 10);
    if (secs > 0) r.retry_after = std::chrono::seconds(secs);
  }
  // 400: a record InfluxDB refuses (bad syntax, field type conflict); 413: the batch is too
  // large — both are resolved by splitting. 401/403/404 are configuration problems: retrying
  // keeps the data in Kafka until an operator fixes them. 429 and 5xx: back off and retry.
  r.status =
      (resp.status == 400 || resp.status == 413 || resp.status == 422) ? WriteStatus::rejected : WriteStatus::retry;
  return r;
}

std::string InfluxWriter::ensure_database() {
  if (options_.api != "v1") return {};
  std::vector<std::string> h;
  if (!options_.username.empty())
    h.push_back("Authorization: Basic " + base64(options_.username + ":" + options_.password));
  const auto resp =
      http_.post(options_.url + "/query", "q=" + http_.escape("CREATE DATABASE \"" + options_.db + "\""), [&] {
        h.push_back("Content-Type: application/x-www-form-urlencoded");
        return h;
      }());
  if (!resp.error.empty()) return resp.error;
  if (!resp.ok()) return "HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 200);
  return {};
}

std::string InfluxWriter::query(const std::string& influxql) {
  std::vector<std::string> h;
  if (!options_.username.empty())
    h.push_back("Authorization: Basic " + base64(options_.username + ":" + options_.password));
  const auto resp =
      http_.get(options_.url + "/query?db=" + http_.escape(options_.db) + "&epoch=ms&q=" + http_.escape(influxql), h);
  if (!resp.ok()) throw std::runtime_error("influx query failed: " + (resp.error.empty() ? resp.body : resp.error));
  return resp.body;
}

}  // namespace cryptoflow::influx
