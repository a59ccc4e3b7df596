#pragma once
// A stand-in Elasticsearch on loopback: index templates and _bulk as the API reference defines
// them, with a switch to take it down and documents that it refuses (MAPERR) or rejects once
// (BUSY), like a busy cluster. `item_refusal` 403 answers every bulk item as an index with a
// write block does, 404 as a missing index with auto-create off; `max_content_length` answers a
// larger _bulk (its NDJSON, uncompressed) with 413, as http.max_content_length does.
#include <rapidjson/document.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "cryptoflow/net/http.hpp"
#include "test_support.hpp"

namespace cryptoflow::test {

class FakeElasticsearch {
 public:
  FakeElasticsearch() : server_([this](const test::HttpRequest& r) { return handle(r); }) {}
  std::string url() const { return server_.url(); }
  std::vector<test::HttpRequest> requests() const { return server_.requests(); }
  std::size_t docs(const std::string& index) {
    std::lock_guard lock(mu_);
    return indices_[index].size();
  }
  std::string doc(const std::string& index, const std::string& id) {
    std::lock_guard lock(mu_);
    return indices_[index][id];
  }
  std::set<std::string> templates() {
    std::lock_guard lock(mu_);
    return templates_;
  }
  std::atomic<bool> down{false};
  std::atomic<int> item_refusal{0};
  std::atomic<std::size_t> max_content_length{0};

 private:
  test::HttpReply handle(const test::HttpRequest& r) {
    if (down) return {503, R"({"error":{"type":"cluster_block_exception"},"status":503})", {}};
    std::lock_guard lock(mu_);
    if (r.method == "PUT" && r.target.rfind("/_index_template/", 0) == 0) {
      rapidjson::Document d;
      d.Parse(r.body.c_str());
      if (d.HasParseError() || !d.HasMember("index_patterns")) return {400, R"({"error":"bad template"})", {}};
      templates_.insert(r.target.substr(17));
      return {200, R"({"acknowledged":true})", {}};
    }
    if (r.method != "POST" || r.target != "/_bulk") return {404, "{}", {}};
    const auto body = r.headers.count("content-encoding") ? gunzip(r.body).value_or("") : r.body;
    if (max_content_length > 0 && body.size() > max_content_length)
      return {413, R"({"error":"Request Entity Too Large"})", {}};
    std::istringstream in(body);
    std::string action, source, items;
    bool errors = false;
    while (std::getline(in, action) && std::getline(in, source)) {
      rapidjson::Document a, s;
      a.Parse(action.c_str());
      s.Parse(source.c_str());
      const std::string index = a["index"]["_index"].GetString(), id = a["index"]["_id"].GetString();
      int status = indices_[index].count(id) ? 200 : 201;
      std::string error;
      const std::string symbol = s.HasMember("symbol") ? s["symbol"].GetString() : "";
      if (item_refusal == 403) {
        status = 403;
        error = R"(,"error":{"type":"cluster_block_exception","reason":"index [)" + index +
                R"(] blocked by: [FORBIDDEN/8/index write (api)];"})";
      } else if (item_refusal == 404) {
        status = 404;
        error = R"(,"error":{"type":"index_not_found_exception","reason":"no such index [)" + index + R"(]"})";
      } else if (symbol == "MAPERR") {  // a document the index mapping refuses
        status = 400;
        error =
            R"(,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [close] of type [double]"})";
      } else if (symbol == "BUSY" && busy_seen_.insert(id).second) {  // rejected once, then accepted
        status = 429;
        error = R"(,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of bulk"})";
      } else {
        indices_[index][id] = source;
      }
      errors = errors || status >= 300;
      items += std::string(items.empty() ? "" : ",") + R"({"index":{"_index":")" + index + R"(","_id":")" + id +
               R"(","status":)" + std::to_string(status) + error + "}}";
    }
    return {
        200, std::string(R"({"took":1,"errors":)") + (errors ? "true" : "false") + R"(,"items":[)" + items + "]}", {}};
  }
  test::HttpStandIn server_;
  std::mutex mu_;
  std::map<std::string, std::map<std::string, std::string>> indices_;
  std::set<std::string> templates_;
  std::set<std::string> busy_seen_;
};

}  // namespace cryptoflow::test
