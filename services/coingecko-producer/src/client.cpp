#include "client.hpp"

#include <cstdlib>

#include "cryptoflow/runtime/log.hpp"
#include "markets.hpp"

namespace cryptoflow::coingecko {

CoinGeckoClient::CoinGeckoClient(ClientOptions options, Clock& clock, CallBudget& budget, MetricsRegistry& m)
    : options_(std::move(options)),
      clock_(clock),
      budget_(budget),
      metrics_(m),
      http_(HttpOptions{options_.connect_timeout, options_.total_timeout, true, options_.retry_after_max}),
      budget_waits_(m.counter("cryptoflow_coingecko_budget_waits_total", "Requests that waited for the call budget")),
      retries_(m.counter("cryptoflow_coingecko_retries_total", "Requests retried (429, 5xx, timeouts)")) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
  if (!options_.api_key.empty())
    headers_.push_back((options_.plan == "pro" ? "x-cg-pro-api-key: " : "x-cg-demo-api-key: ") + options_.api_key);
  headers_.push_back("Accept: application/json");
}

std::string CoinGeckoClient::redact(std::string text) const {
  if (options_.api_key.empty()) return text;
  for (auto at = text.find(options_.api_key); at != std::string::npos; at = text.find(options_.api_key, at))
    text.replace(at, options_.api_key.size(), "***");
  return text;
}

void CoinGeckoClient::report_config_error(int code, const std::string& detail) {
  if (!reported_.insert(code).second) return;  // once per kind
  std::string advice;
  switch (code) {
    case 10010:
      advice =
          "a Pro API key was sent to the public (demo) root: set COINGECKO_PLAN=pro and "
          "COINGECKO_URL=https://pro-api.coingecko.com/api/v3";
      break;
    case 10011:
      advice =
          "a Demo API key was sent to the Pro root: set COINGECKO_PLAN=demo and "
          "COINGECKO_URL=https://api.coingecko.com/api/v3";
      break;
    case 10002: advice = "no API key was sent: set COINGECKO_API_KEY (and COINGECKO_PLAN)"; break;
    default: advice = "the API key is missing or invalid for this plan: check COINGECKO_API_KEY and COINGECKO_PLAN";
  }
  log_error("CoinGecko refused the API key", {{"code", code}, {"fix", advice}, {"detail", redact(detail)}});
}

FetchResult CoinGeckoClient::get(const std::string& path) {
  FetchResult result;
  Backoff backoff(std::chrono::milliseconds(options_.first_backoff_ms),
                  std::chrono::milliseconds(options_.max_backoff_ms));
  for (int attempt = 1;; ++attempt) {
    const auto now = clock_.now_ms();
    const auto allowed = budget_.next_allowed(now);
    if (allowed > now) {
      budget_waits_.inc();
      if (!clock_.sleep_until(allowed)) return {FetchStatus::stopped, {}, "stopped"};
    }
    const auto sent_at = clock_.now_ms();
    budget_.record(sent_at);
    if (on_request) on_request(sent_at);
    auto resp = http_.get(options_.base_url + path, headers_);
    const std::string status = resp.error.empty() ? std::to_string(resp.status) : "error";
    metrics_.counter("cryptoflow_coingecko_requests_total", "Requests by HTTP status", {{"status", status}}).inc();
    if (resp.ok()) return {FetchStatus::ok, std::move(resp.body), {}};

    const auto api_error = resp.error.empty() ? parse_api_error(resp.body) : std::nullopt;
    const int code = api_error ? api_error->code : 0;
    if (resp.status == 401 || code == 10002 || code == 10010 || code == 10011) {
      report_config_error(code ? code : 401, api_error ? api_error->message : resp.body.substr(0, 200));
      return {FetchStatus::config_error,
              {},
              redact("HTTP " + std::to_string(resp.status) + " code " + std::to_string(code))};
    }
    result.error = redact(resp.error.empty() ? "HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 120)
                                             : resp.error);
    const bool retryable = !resp.error.empty() || resp.status == 429 || resp.status == 408 || resp.status >= 500;
    if (!retryable || attempt >= options_.max_attempts) {
      result.status = FetchStatus::failed;
      return result;
    }
    std::int64_t wait = backoff.next().count();
    if (resp.status == 429 && resp.retry_after) wait = std::max<std::int64_t>(wait, resp.retry_after->count());
    retries_.inc();
    log_warn("CoinGecko request failed; retrying",
             {{"error", result.error}, {"attempt", attempt}, {"retry_in_ms", wait}});
    if (!clock_.sleep_until(clock_.now_ms() + wait)) return {FetchStatus::stopped, {}, "stopped"};
  }
}

}  // namespace cryptoflow::coingecko
