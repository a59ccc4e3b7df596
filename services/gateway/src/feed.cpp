#include "feed.hpp"

#include <set>
#include <thread>

#include "cryptoflow/backoff.hpp"
#include "cryptoflow/clock.hpp"
#include "cryptoflow/kafka/reader.hpp"

namespace cryptoflow::gateway {

Feed::Feed(FeedOptions options, MarketStore& store, std::function<void(Event)> publish, MetricsRegistry& metrics)
    : o_(std::move(options)),
      store_(store),
      publish_(std::move(publish)),
      records_(metrics.counter("cryptoflow_gateway_records_total", "records read from the topics")),
      undecodable_(
          metrics.counter("cryptoflow_gateway_undecodable_total", "records that were not a valid message (skipped)")),
      refused_(metrics.counter("cryptoflow_gateway_refused_series_total",
                               "candles or tickers of a new series refused: GATEWAY_MAX_SERIES reached")),
      series_(metrics.gauge("cryptoflow_gateway_series", "symbol x interval candle series held")) {}

void Feed::apply(const kafka::Record& r) {
  records_.inc();
  const auto take = [&](const auto& decoded) {
    if (!decoded) {
      undecodable_.inc();
      bad_log_(LogLevel::warn, "gateway: a record is not a valid message; skipped",
               {{"topic", r.topic}, {"partition", r.partition}, {"offset", r.offset}, {"error", decoded.error}});
      return;
    }
    const auto applied = store_.apply(*decoded.value);
    if (applied == Applied::refused) refused_.inc();
    if (live_ && (applied == Applied::added || applied == Applied::updated)) publish_(make_event(*decoded.value));
  };
  if (r.topic == o_.candles_topic)
    take(decode_candle(r.value));
  else if (r.topic == o_.indicators_topic)
    take(decode_indicator(r.value));
  else if (r.topic == o_.tickers_topic)
    take(decode_ticker(r.value));
  series_.set(static_cast<double>(store_.series_count()));
}

void Feed::run(kafka::KafkaReader& reader, const std::function<bool()>& stop) {
  using std::chrono::milliseconds;
  kafka::OffsetMap start;
  Backoff backoff(milliseconds(200), milliseconds(10'000));
  while (!stop()) {
    try {
      start.clear();
      const auto from = wall_clock_ms() - o_.history_ms;
      for (const auto& topic : {o_.candles_topic, o_.indicators_topic, o_.tickers_topic})
        for (const auto& [tp, offset] : reader.offsets_for_time(topic, from, milliseconds(10'000))) start[tp] = offset;
      break;
    } catch (const std::exception& e) {
      const auto wait = backoff.next();
      log_warn("gateway: cannot find the topics' offsets; retrying",
               {{"error", e.what()}, {"retry_in_ms", static_cast<std::int64_t>(wait.count())}});
      const auto until = std::chrono::steady_clock::now() + wait;
      while (!stop() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(milliseconds(50));
    }
  }
  if (stop()) return;
  reader.assign(start);
  log_info("gateway: reading the topics", {{"partitions", start.size()}, {"history_ms", o_.history_ms}});
  std::set<kafka::TopicPartition> behind;
  for (const auto& [tp, _] : start) behind.insert(tp);
  std::uint64_t replayed = 0;
  while (!stop()) {
    if (auto r = reader.poll(milliseconds(100))) {
      apply(*r);
      if (!live_) ++replayed;
    }
    if (!live_) {
      std::erase_if(behind, [&](const kafka::TopicPartition& tp) { return reader.at_end(tp); });
      if (behind.empty()) {
        live_ = true;
        log_info("gateway: caught up; serving live",
                 {{"records", replayed}, {"series", store_.series_count()}, {"candles", store_.candle_count()}});
      }
    }
  }
}

}  // namespace cryptoflow::gateway
