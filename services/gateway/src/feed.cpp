#include "feed.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "cryptoflow/kafka/reader.hpp"
#include "cryptoflow/runtime/backoff.hpp"
#include "cryptoflow/runtime/clock.hpp"

namespace cryptoflow::gateway {

Feed::Feed(FeedOptions options, MarketStore& store, std::function<void(Event)> publish, MetricsRegistry& metrics,
           TradeStore* trades, BookStore* books)
    : o_(std::move(options)),
      store_(store),
      trades_(trades),
      books_(books),
      refused_books_(metrics.counter("cryptoflow_gateway_refused_books_total",
                                     "book records of a new symbol beyond GATEWAY_MAX_BOOKS (not kept)")),
      publish_(std::move(publish)),
      records_(metrics.counter("cryptoflow_gateway_records_total", "records read from the topics")),
      undecodable_(
          metrics.counter("cryptoflow_gateway_undecodable_total", "records that were not a valid message (skipped)")),
      refused_(metrics.counter("cryptoflow_gateway_refused_series_total",
                               "candles or tickers of a new series refused: GATEWAY_MAX_SERIES reached")),
      refused_trades_(metrics.counter("cryptoflow_gateway_refused_trades_total",
                                      "trades not kept: a new symbol beyond what fits GATEWAY_MAX_MEMORY, or a "
                                      "trade where the symbol's feed carries aggregate trades (or the reverse)")),
      refused_histories_(metrics.counter("cryptoflow_gateway_refused_ticker_histories_total",
                                         "tickers whose price history is not kept: a new coin x currency beyond what "
                                         "fits a sixteenth of GATEWAY_MAX_MEMORY")),
      series_(metrics.gauge("cryptoflow_gateway_series", "symbol x interval candle series held")) {}

std::int64_t history_start(const std::function<bool(std::int64_t)>& any_since, std::int64_t now_ms,
                           std::int64_t history_ms) {
  const auto recent = now_ms - history_ms;
  if (any_since(recent) || !any_since(0)) return recent;
  std::int64_t held = 0;  // any_since(held) is true, any_since(absent) false
  std::int64_t absent = recent;
  while (absent - held > 1) {
    const auto mid = held + (absent - held) / 2;
    (any_since(mid) ? held : absent) = mid;
  }
  return held - history_ms;
}

void Feed::apply(const kafka::Record& r) {
  records_.inc();
  ++records_read_;
  // The message, or nothing (counted and logged) when the record is not a valid one.
  const auto valid = [&](const auto& decoded) {
    if (!decoded) {
      undecodable_.inc();
      bad_log_(LogLevel::warn, "gateway: a record is not a valid message; skipped",
               {{"topic", r.topic}, {"partition", r.partition}, {"offset", r.offset}, {"error", decoded.error}});
    }
    return decoded.value ? &*decoded.value : nullptr;
  };
  const auto take = [&](const auto& decoded) {
    const auto* m = valid(decoded);
    if (m == nullptr) return;
    const auto applied = store_.apply(*m);
    if (applied == Applied::refused) refused_.inc();
    if (live_ && (applied == Applied::added || applied == Applied::updated)) publish_(make_event(*m));
  };
  if (r.topic == o_.candles_topic) {
    take(decode_candle(r.value));
  } else if (r.topic == o_.indicators_topic) {
    take(decode_indicator(r.value));
  } else if (r.topic == o_.tickers_topic) {
    const auto refused = store_.histories_refused();
    take(decode_ticker(r.value));
    if (store_.histories_refused() > refused) refused_histories_.inc();
  } else if (trades_ != nullptr && r.topic == o_.trades_topic) {
    const auto decoded = decode_trade(r.value);
    const auto* t = valid(decoded);
    if (t == nullptr) return;
    const auto applied = trades_->apply(*t);
    if (applied == TradeApplied::refused) refused_trades_.inc();
    if (live_ && applied == TradeApplied::added) publish_(make_event(*t));
  } else if (books_ != nullptr && r.topic == o_.books_topic) {
    const auto decoded = decode_book_record(r.value);
    const auto* b = valid(decoded);
    if (b == nullptr) return;
    const auto change = books_->apply(*b);
    if (change == BookStore::Change::refused) refused_books_.inc();
    if (live_ && (change == BookStore::Change::update || change == BookStore::Change::good))
      publish_(make_event(*b, true));
    if (live_ && change == BookStore::Change::not_good) publish_(make_event(*b, false));
  }
  series_.set(static_cast<double>(store_.series_count()));
}

void Feed::sample(std::int64_t now_ms, std::optional<std::int64_t> dead_letters) {
  samples_.emplace_back(now_ms, store_.trades_seen());
  while (samples_.size() > 2 && samples_.back().first - samples_.front().first > 10'000) samples_.pop_front();
  PipelineStats p;
  const auto span = samples_.back().first - samples_.front().first;
  if (span > 0)
    p.trades_per_second =
        static_cast<double>(samples_.back().second - samples_.front().second) * 1000.0 / static_cast<double>(span);
  p.dead_letters = dead_letters;
  p.records = records_read_;
  store_.set_pipeline(p);
}

void Feed::run(kafka::KafkaReader& reader, const std::function<bool()>& stop,
               const std::function<std::optional<std::int64_t>()>& dead_letters) {
  using std::chrono::milliseconds;
  kafka::OffsetMap start;
  Backoff backoff(milliseconds(200), milliseconds(10'000));
  while (!stop()) {
    try {
      start.clear();
      std::vector<std::string> topics{o_.candles_topic, o_.indicators_topic, o_.tickers_topic};
      if (trades_ != nullptr && !o_.trades_topic.empty()) topics.push_back(o_.trades_topic);
      if (books_ != nullptr && !o_.books_topic.empty()) topics.push_back(o_.books_topic);
      for (const auto& topic : topics) {
        const auto history_ms = topic == o_.trades_topic  ? o_.trades_history_ms
                                : topic == o_.books_topic ? o_.books_history_ms
                                                          : o_.history_ms;
        std::map<kafka::TopicPartition, std::int64_t> end;
        for (const auto& [tp, offset] : reader.offsets_for_time(topic, -1, milliseconds(10'000))) end[tp] = offset;
        const auto any_since = [&](std::int64_t t) {
          for (const auto& [tp, offset] : reader.offsets_for_time(topic, t, milliseconds(10'000)))
            if (offset < end[tp]) return true;
          return false;
        };
        std::map<kafka::TopicPartition, std::int64_t> first;
        for (const auto& [tp, offset] : reader.offsets_for_time(topic, -2, milliseconds(10'000))) first[tp] = offset;
        const bool holds =
            std::any_of(first.begin(), first.end(), [&](const auto& f) { return f.second < end[f.first]; });
        if (holds && !any_since(0)) {
          // A broker that cannot search by time (librdkafka's mock cluster behind dev-broker):
          // the whole topic; the store's bounds keep the newest.
          log_info("gateway: the broker does not search by time; reading the whole topic", {{"topic", topic}});
          for (const auto& [tp, offset] : first) start[tp] = offset;
          continue;
        }
        const auto from = history_start(any_since, wall_clock_ms(), history_ms);
        for (const auto& [tp, offset] : reader.offsets_for_time(topic, from, milliseconds(10'000))) start[tp] = offset;
      }
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
  // Every candle partition read from offset 0 (nothing ever deleted, nothing skipped): the first
  // candle of a series is the first the processor made for it.
  bool from_origin = true;
  for (const auto& [tp, offset] : start)
    if (tp.topic == o_.candles_topic && offset != 0) from_origin = false;
  store_.set_from_origin(from_origin);
  reader.assign(start);
  log_info("gateway: reading the topics", {{"partitions", start.size()}, {"history_ms", o_.history_ms}});
  std::set<kafka::TopicPartition> behind;
  for (const auto& [tp, _] : start) behind.insert(tp);
  std::uint64_t replayed = 0;
  auto next_sample = std::chrono::steady_clock::now();
  while (!stop()) {
    if (std::chrono::steady_clock::now() >= next_sample) {
      next_sample += std::chrono::seconds(1);
      sample(wall_clock_ms(), dead_letters ? dead_letters() : std::nullopt);
    }
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
