#pragma once
// CoinGecko REST client: every request spends one call of the budget (retries too) and waits
// for it; 429 waits for Retry-After (or backs off exponentially with jitter); 5xx, timeouts
// and transport errors are retried within the budget; key and plan errors (401, 10002, 10010,
// 10011) are not retried and are reported once with what to change. The API key travels in
// the plan's header and is redacted from anything logged.
#include <functional>
#include <random>
#include <set>
#include <string>

#include "budget.hpp"
#include "cryptoflow/net/http.hpp"
#include "cryptoflow/runtime/backoff.hpp"
#include "cryptoflow/runtime/metrics.hpp"

namespace cryptoflow::coingecko {

struct ClientOptions {
  std::string base_url = "https://api.coingecko.com/api/v3";
  std::string plan = "demo";  // demo or pro
  std::string api_key;
  int max_attempts = 5;  // per request, within one poll
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds total_timeout{10000};
  std::chrono::milliseconds retry_after_max{60000};  // RETRY_AFTER_MAX
  std::int64_t first_backoff_ms = 1000;
  std::int64_t max_backoff_ms = 60'000;
};

enum class FetchStatus { ok, failed, config_error, stopped };

struct FetchResult {
  FetchStatus status = FetchStatus::failed;
  std::string body;
  std::string error;  // redacted
};

class CoinGeckoClient {
 public:
  CoinGeckoClient(ClientOptions options, Clock& clock, CallBudget& budget, MetricsRegistry& metrics);
  // GET base_url + path (e.g. "/coins/markets?vs_currency=usd").
  FetchResult get(const std::string& path);
  [[nodiscard]] std::string redact(std::string text) const;
  // Called with the clock's time of every request sent (tests check the budget with it).
  std::function<void(std::int64_t)> on_request;

 private:
  void report_config_error(int code, const std::string& detail);
  ClientOptions options_;
  Clock& clock_;
  CallBudget& budget_;
  MetricsRegistry& metrics_;
  HttpClient http_;
  std::vector<std::string> headers_;
  std::set<int> reported_;
  Counter& budget_waits_;
  Counter& retries_;
};

}  // namespace cryptoflow::coingecko
