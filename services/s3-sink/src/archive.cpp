#include "archive.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <ctime>
#include <stdexcept>

namespace cryptoflow::s3 {
namespace {

std::string two(int v) {
  return std::string(1, static_cast<char>('0' + v / 10)) + static_cast<char>('0' + v % 10);
}

// Walks the format; fields null: only checks it.
std::string expand(std::string_view format, const std::tm* fields) {
  std::string out;
  for (std::size_t i = 0; i < format.size();) {
    const char c = format[i];
    if (c == '\'') {
      if (i + 1 < format.size() && format[i + 1] == '\'') {
        out.push_back('\'');
        i += 2;
        continue;
      }
      for (++i;; ++i) {  // quoted text, where '' is a quote
        if (i >= format.size()) throw std::invalid_argument("unterminated quote in path format");
        if (format[i] != '\'') {
          out.push_back(format[i]);
        } else if (i + 1 < format.size() && format[i + 1] == '\'') {
          out.push_back('\'');
          ++i;
        } else {
          break;
        }
      }
      ++i;
      continue;
    }
    auto token = [&](std::string_view t) { return format.substr(i, t.size()) == t; };
    if (token("YYYY") || token("yyyy")) {
      if (fields) out += std::to_string(fields->tm_year + 1900);
      i += 4;
    } else if (token("MM")) {
      if (fields) out += two(fields->tm_mon + 1);
      i += 2;
    } else if (token("dd")) {
      if (fields) out += two(fields->tm_mday);
      i += 2;
    } else if (token("HH")) {
      if (fields) out += two(fields->tm_hour);
      i += 2;
    } else if (token("mm")) {
      if (fields) out += two(fields->tm_min);
      i += 2;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      throw std::invalid_argument(std::string("'") + c +
                                  "' is no token (YYYY MM dd HH mm); quote literal text: 'year'=YYYY");
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

}  // namespace

std::string time_partition(std::string_view format, std::int64_t epoch_ms) {
  const std::time_t seconds = static_cast<std::time_t>(epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return expand(format, &tm);
}

void check_path_format(std::string_view format) {
  expand(format, nullptr);
}

std::string object_key(std::string_view prefix, std::string_view topic, std::string_view partition_path,
                       std::int32_t kafka_partition, std::int64_t start_offset) {
  std::array<char, 24> offset{};
  std::snprintf(offset.data(), offset.size(), "%010lld", static_cast<long long>(start_offset));
  std::string key;
  if (!prefix.empty()) key.append(prefix).push_back('/');
  key.append(topic).push_back('/');
  if (!partition_path.empty()) key.append(partition_path).push_back('/');
  key.append(topic).append("+").append(std::to_string(kafka_partition)).append("+").append(offset.data());
  return key + ".json.gz";
}

Decoded decode(std::string_view value) {
  rapidjson::Document doc;
  doc.Parse(value.data(), value.size());
  Decoded d;
  if (doc.HasParseError() || !doc.IsObject()) return d;
  d.valid = true;
  if (value.find_first_of("\r\n") != std::string_view::npos) {  // pretty-printed: one line per record
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    doc.Accept(writer);
    d.line.assign(buffer.GetString(), buffer.GetSize());
  }
  for (const char* field : {"trade_time", "start", "last_updated", "end"}) {
    const auto it = doc.FindMember(field);
    if (it != doc.MemberEnd() && it->value.IsInt64()) {
      d.event_time = it->value.GetInt64();
      break;
    }
  }
  return d;
}

GzipLines::GzipLines(int level) {
  if (deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
}

GzipLines::~GzipLines() {
  deflateEnd(&z_);
}

void GzipLines::run(int flush) {
  std::array<char, 16384> buf{};
  int rc = Z_OK;
  do {
    z_.next_out = reinterpret_cast<Bytef*>(buf.data());
    z_.avail_out = static_cast<uInt>(buf.size());
    rc = deflate(&z_, flush);
    if (rc == Z_STREAM_ERROR) throw std::runtime_error("deflate failed");
    out_.append(buf.data(), buf.size() - z_.avail_out);
  } while (z_.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}

void GzipLines::add(std::string_view line) {
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(line.data()));
  z_.avail_in = static_cast<uInt>(line.size());
  run(Z_NO_FLUSH);
  static char newline = '\n';
  z_.next_in = reinterpret_cast<Bytef*>(&newline);
  z_.avail_in = 1;
  run(Z_NO_FLUSH);
}

std::string GzipLines::finish() {
  z_.next_in = nullptr;
  z_.avail_in = 0;
  run(Z_FINISH);
  return std::move(out_);
}

}  // namespace cryptoflow::s3
