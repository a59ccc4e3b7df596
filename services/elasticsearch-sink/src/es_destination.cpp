#include "es_destination.hpp"

#include <rapidjson/document.h>

#include <cstdlib>

namespace cryptoflow::elastic {

sink::Disposition item_disposition(int status) {
  // Refusals of the cluster or the index, not of the document: an index write block (403
  // cluster_block_exception), an index that does not exist with auto-create off (404
  // index_not_found_exception), credentials (401), a timeout (408), back-pressure (429), the
  // cluster's own trouble (5xx). They pass; the record waits, like in an outage.
  if (status == 401 || status == 403 || status == 404 || status == 408 || status == 429 || status >= 500)
    return sink::Disposition::retry;
  return sink::Disposition::rejected;  // 400 mapper_parsing_exception, ...: this document never fits
}

std::vector<sink::ItemResult> parse_bulk_response(std::string_view body, std::size_t items) {
  std::vector<sink::ItemResult> out(items, {sink::Disposition::retry, "no result for this item"});
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("items") || !d["items"].IsArray()) return out;
  const auto& arr = d["items"];
  for (rapidjson::SizeType i = 0; i < arr.Size() && i < items; ++i) {
    if (!arr[i].IsObject() || arr[i].MemberCount() == 0) continue;
    const auto& r = arr[i].MemberBegin()->value;  // {"index": {...}}
    if (!r.IsObject() || !r.HasMember("status") || !r["status"].IsInt()) continue;
    const int status = r["status"].GetInt();
    if (status >= 200 && status < 300) {
      out[i] = {sink::Disposition::written, {}};
      continue;
    }
    std::string reason = "elasticsearch rejected (" + std::to_string(status) + ")";
    if (auto e = r.FindMember("error"); e != r.MemberEnd() && e->value.IsObject()) {
      if (auto t = e->value.FindMember("type"); t != e->value.MemberEnd() && t->value.IsString())
        reason += ": " + std::string(t->value.GetString());
      if (auto why = e->value.FindMember("reason"); why != e->value.MemberEnd() && why->value.IsString())
        reason += ": " + std::string(why->value.GetString());
    }
    out[i] = {item_disposition(status), reason};
  }
  return out;
}

EsDestination::EsDestination(EsOptions options, TopicNames topics, HttpOptions http)
    : options_(std::move(options)), topics_(std::move(topics)), http_(http) {
  while (!options_.url.empty() && options_.url.back() == '/') options_.url.pop_back();
  if (!options_.api_key.empty())
    auth_.push_back("Authorization: ApiKey " + options_.api_key);
  else if (!options_.username.empty())
    auth_.push_back("Authorization: Basic " + base64(options_.username + ":" + options_.password));
}

sink::WriteOutcome EsDestination::write(const std::string& body, const std::vector<sink::Slice>& slices) {
  sink::WriteOutcome out;
  out.items.assign(slices.size(), {sink::Disposition::retry, "not sent"});
  write_range(body, slices, 0, slices.size(), out);
  return out;
}

void EsDestination::write_range(const std::string& body, const std::vector<sink::Slice>& slices, std::size_t lo,
                                std::size_t hi, sink::WriteOutcome& out) {
  std::string scratch;
  const auto ndjson = sink::joined(body, slices, lo, hi, scratch);
  auto headers = auth_;
  headers.push_back("Content-Type: application/x-ndjson");
  headers.push_back("Content-Encoding: gzip");
  const auto resp = http_.post(options_.url + "/_bulk", gzip(ndjson), headers);
  out.http_status = resp.status;
  if (resp.ok()) {
    const auto items = parse_bulk_response(resp.body, hi - lo);
    std::copy(items.begin(), items.end(), out.items.begin() + static_cast<std::ptrdiff_t>(lo));
    for (const auto& item : items)  // what the retry log says
      if (item.disposition == sink::Disposition::retry && out.error.empty()) out.error = item.reason;
    return;
  }
  const auto error =
      resp.error.empty() ? "HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 300) : resp.error;
  if (resp.error.empty() && resp.status == 413) {  // larger than http.max_content_length: halve it
    if (hi - lo == 1) {                            // one document, too large alone: it can never be taken
      out.items[lo] = {sink::Disposition::rejected,
                       "elasticsearch rejected (413): the document alone is larger "
                       "than the cluster takes (http.max_content_length)"};
      return;
    }
    const auto mid = lo + (hi - lo) / 2;
    write_range(body, slices, lo, mid, out);
    write_range(body, slices, mid, hi, out);
    return;
  }
  // The whole request failed (down, 429, 5xx, 401/403): every item waits.
  out.error = error;
  out.retry_after = resp.retry_after;
  for (std::size_t i = lo; i < hi; ++i) out.items[i] = {sink::Disposition::retry, error};
}

std::string EsDestination::install_templates() {
  auto headers = auth_;
  headers.push_back("Content-Type: application/json");
  for (const auto& t : index_templates(options_.index_prefix)) {
    const auto resp = http_.request("PUT", options_.url + "/_index_template/" + t.name, headers, t.body);
    if (!resp.ok())
      return "template " + t.name + ": " +
             (resp.error.empty() ? "HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 300)
                                 : resp.error);
  }
  return {};
}

}  // namespace cryptoflow::elastic
