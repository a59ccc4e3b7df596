#pragma once
// Elasticsearch as a sink destination: one _bulk request per batch (NDJSON, gzip), the
// per-item results read (item_disposition): 2xx written; refusals of the cluster or the index
// (401, 403, 404, 408, 429, 5xx) retried, only those items; any other status rejected with the
// server's reason (-> dead-letter). A whole-request failure (down, 429, 5xx, 401/403) retries
// the batch; a 413 (over http.max_content_length) halves it until it fits, and a document too
// large alone is rejected. Index templates are installed before anything is read.
#include <string>

#include "cryptoflow/net/http.hpp"
#include "cryptoflow/sink/batch_sink.hpp"
#include "documents.hpp"

namespace cryptoflow::elastic {

struct EsOptions {
  std::string url = "http://localhost:9200";
  std::string username, password, api_key;
  std::string index_prefix = "crypto";
};

// What an item status of a _bulk answer means for its record.
sink::Disposition item_disposition(int status);
// Parses a _bulk answer into one result per item (missing or malformed: retry).
std::vector<sink::ItemResult> parse_bulk_response(std::string_view body, std::size_t items);

class EsDestination final : public sink::Destination {
 public:
  EsDestination(EsOptions options, TopicNames topics, HttpOptions http = {});
  std::string encode(const std::string& topic, std::string_view value, std::string& body) override {
    return encode_record(topics_, options_.index_prefix, topic, value, body);
  }
  sink::WriteOutcome write(const std::string& body, const std::vector<sink::Slice>& slices) override;
  // PUTs every index template; returns an error text (empty on success).
  std::string install_templates();

 private:
  void write_range(const std::string& body, const std::vector<sink::Slice>& slices, std::size_t lo, std::size_t hi,
                   sink::WriteOutcome& out);
  EsOptions options_;
  TopicNames topics_;
  HttpClient http_;
  std::vector<std::string> auth_;
};

}  // namespace cryptoflow::elastic
