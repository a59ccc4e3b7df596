#include "poller.hpp"

#include <algorithm>

#include "cryptoflow/runtime/log.hpp"
#include "markets.hpp"

namespace cryptoflow::coingecko {

Poller::Poller(PollerOptions options, CoinGeckoClient& client, Clock& clock, std::function<void(const Ticker&)> publish,
               MetricsRegistry& m)
    : options_(std::move(options)),
      client_(client),
      clock_(clock),
      publish_(std::move(publish)),
      published_(m.counter("cryptoflow_coingecko_tickers_published_total", "Ticker messages published")),
      unchanged_(
          m.counter("cryptoflow_coingecko_unchanged_skipped_total", "Tickers not republished: same last_updated")),
      parse_errors_(m.counter("cryptoflow_coingecko_parse_errors_total", "Answers or coins that could not be parsed")),
      overruns_(m.counter("cryptoflow_coingecko_poll_overruns_total", "Polls that took longer than the interval")),
      last_success_(m.gauge("cryptoflow_coingecko_last_success_timestamp_seconds", "End of the last successful poll")),
      failures_(m.gauge("cryptoflow_coingecko_consecutive_failed_polls", "Failed polls in a row")) {}

std::vector<std::string> Poller::request_paths(const std::string& vs) const {
  std::vector<std::string> out;
  const std::string base = "/coins/markets?vs_currency=" + vs;
  if (!options_.ids.empty()) {
    for (std::size_t i = 0; i < options_.ids.size(); i += 250) {
      std::string ids;
      for (std::size_t j = i; j < std::min(options_.ids.size(), i + 250); ++j)
        ids += (ids.empty() ? "" : ",") + options_.ids[j];
      out.push_back(base + "&ids=" + ids + "&per_page=250&page=1&sparkline=false");
    }
    return out;
  }
  const int per_page = std::min(options_.top_n, 250);
  const int pages = (options_.top_n + per_page - 1) / per_page;
  for (int page = 1; page <= pages; ++page)
    out.push_back(base + "&order=market_cap_desc&per_page=" + std::to_string(per_page) +
                  "&page=" + std::to_string(page) + "&sparkline=false");
  return out;
}

bool Poller::poll_once() {
  bool ok = true;
  for (const auto& vs : options_.vs_currencies) {
    int taken = 0;
    for (const auto& path : request_paths(vs)) {
      auto r = client_.get(path);
      if (r.status == FetchStatus::stopped) return false;
      if (r.status != FetchStatus::ok) {
        ok = false;
        log_warn("CoinGecko poll request failed", {{"path", path}, {"error", r.error}});
        continue;
      }
      auto parsed = parse_markets(r.body, vs, clock_.now_ms());
      if (!parsed.error.empty()) {
        ok = false;
        parse_errors_.inc();
        log_warn("CoinGecko answer could not be parsed", {{"path", path}, {"error", client_.redact(parsed.error)}});
        continue;
      }
      if (parsed.skipped > 0) {
        parse_errors_.inc(static_cast<std::uint64_t>(parsed.skipped));
        log_warn("CoinGecko coins skipped", {{"count", parsed.skipped}, {"first", parsed.first_skip}});
      }
      for (const auto& t : parsed.tickers) {
        if (options_.ids.empty() && taken >= options_.top_n) break;
        ++taken;
        const auto key = ticker_key(t);
        auto [it, fresh] = last_published_.try_emplace(key, t.last_updated);
        if (!fresh && it->second == t.last_updated) {
          unchanged_.inc();
          continue;
        }
        it->second = t.last_updated;
        publish_(t);
        published_.inc();
      }
    }
  }
  consecutive_failures_ = ok ? 0 : consecutive_failures_ + 1;
  failures_.set(consecutive_failures_);
  if (ok) last_success_.set(static_cast<double>(clock_.now_ms()) / 1000.0);
  return ok;
}

void Poller::run() {
  const auto start = clock_.now_ms();
  std::int64_t slot = 0;
  for (;;) {
    poll_once();
    const auto now = clock_.now_ms();
    const auto next_slot = std::max(slot + 1, (now - start) / options_.interval_ms + 1);
    if (next_slot > slot + 1) {
      overruns_.inc();
      log_warn("poll overran its interval; skipping to the next aligned slot",
               {{"took_ms", now - (start + slot * options_.interval_ms)}, {"interval_ms", options_.interval_ms}});
    }
    slot = next_slot;
    if (!clock_.sleep_until(start + slot * options_.interval_ms)) return;
  }
}

}  // namespace cryptoflow::coingecko
