#include "es_destination.hpp"

#include <rapidjson/document.h>

#include <cstdlib>

namespace cryptoflow::elastic {

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
    out[i] = {status == 429 || status >= 500 ? sink::Disposition::retry : sink::Disposition::rejected, reason};
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
  std::string ndjson;
  for (const auto& s : slices) ndjson.append(body, s.begin, s.end - s.begin);
  auto headers = auth_;
  headers.push_back("Content-Type: application/x-ndjson");
  headers.push_back("Content-Encoding: gzip");
  const auto resp = http_.post(options_.url + "/_bulk", gzip(ndjson), headers);
  out.http_status = resp.status;
  if (resp.ok()) {
    out.items = parse_bulk_response(resp.body, slices.size());
    return out;
  }
  out.error = resp.error.empty() ? "HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 300) : resp.error;
  out.retry_after = resp.retry_after;
  // The whole request failed (down, 429, 5xx, 401/403, a proxy's 413): every item waits.
  out.items.assign(slices.size(), {sink::Disposition::retry, out.error});
  return out;
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
