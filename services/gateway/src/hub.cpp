#include "hub.hpp"

#include <charconv>

#include "cryptoflow/runtime/clock.hpp"

namespace cryptoflow::gateway {

std::string_view Event::kind_name() const {
  switch (kind) {
    case EventKind::candle: return "candle";
    case EventKind::indicator: return "indicator";
    case EventKind::ticker: return "ticker";
    case EventKind::binance: return "binance";
    case EventKind::trade: return "trade";
    case EventKind::book: return "book";
  }
  return "";
}

Event make_event(const Candle& c) {
  Event e;
  e.kind = EventKind::candle;
  e.symbol = c.symbol;
  e.interval = c.interval;
  e.json = to_json(c);
  e.candle = c;
  return e;
}

Event make_event(const Indicator& i) {
  Event e;
  e.kind = EventKind::indicator;
  e.symbol = i.symbol;
  e.json = to_json(i);
  return e;
}

Event make_event(const Ticker& t) {
  Event e;
  e.kind = EventKind::ticker;
  e.coin = t.coin;
  e.json = to_json(t);
  return e;
}

Event binance_event(std::string stream, std::string payload) {
  Event e;
  e.kind = EventKind::binance;
  e.stream = std::move(stream);
  e.binance_payload = std::make_shared<const std::string>(std::move(payload));
  return e;
}

Event make_event(const Trade& t) {
  Event e;
  e.kind = EventKind::trade;
  e.symbol = t.symbol;
  e.aggregate = t.first_trade_id.has_value();
  e.trade = held(t);
  return e;
}

Event make_event(const BookRecord& r, bool good) {
  Event e;
  e.kind = EventKind::book;
  e.symbol = r.symbol;
  e.book = std::make_shared<const BookRecord>(r);
  e.book_good = good;
  return e;
}

bool Filter::matches(const Event& e) const {
  if (e.kind == EventKind::binance || e.kind == EventKind::trade || e.kind == EventKind::book) return false;
  if (!kinds.empty() && !kinds.contains(e.kind)) return false;
  if (e.kind == EventKind::ticker) return true;
  if (!symbols.empty() && !symbols.contains(e.symbol)) return false;
  return e.kind != EventKind::candle || intervals.empty() || intervals.contains(e.interval);
}

namespace {
// What a kept event holds: its JSON, and the candle it carries (the Binance payload is made on demand).
std::size_t footprint(const Event& e) {
  return sizeof(Event) + e.json.capacity() + e.symbol.capacity() + e.interval.capacity() + e.coin.capacity() + 64;
}
}  // namespace

Hub::Hub(std::uint64_t epoch, std::size_t kept, std::size_t kept_bytes)
    : epoch_(epoch), kept_(kept), kept_bytes_(kept_bytes) {}

void Hub::publish(Event event) {
  event.seq = ++seq_;
  event.time_ms = wall_clock_ms();
  auto e = std::make_shared<const Event>(std::move(event));
  recent_.push_back(e);
  bytes_ += footprint(*e);
  while (!recent_.empty() && (recent_.size() > kept_ || bytes_ > kept_bytes_)) {
    bytes_ -= footprint(*recent_.front());
    recent_.pop_front();
  }
  deliver(e);
}

void Hub::broadcast(Event event) {
  event.time_ms = wall_clock_ms();
  deliver(std::make_shared<const Event>(std::move(event)));
}

void Hub::deliver(const EventPtr& e) {
  // deliver() may drop a slow subscriber, which can end it (and unsubscribe it): iterate over a copy.
  std::vector<std::weak_ptr<Subscriber>> current;
  current.reserve(subscribers_.size());
  for (const auto& [_, w] : subscribers_) current.push_back(w);
  for (const auto& w : current)
    if (const auto s = w.lock()) s->deliver(e);
}

std::uint64_t Hub::subscribe(const std::weak_ptr<Subscriber>& s) {
  subscribers_.emplace(++next_subscriber_, s);
  return next_subscriber_;
}

void Hub::unsubscribe(std::uint64_t id) {
  subscribers_.erase(id);
}

std::string Hub::id_of(const Event& e) const {
  return std::to_string(epoch_) + "-" + std::to_string(e.seq);
}

std::optional<std::vector<EventPtr>> Hub::after(std::string_view id) const {
  const auto seq = resumable(id);
  if (!seq) return std::nullopt;
  return range(*seq, SIZE_MAX);
}

std::optional<std::vector<EventPtr>> Hub::range(std::uint64_t seq, std::size_t n) const {
  if (seq > seq_) return std::nullopt;
  const auto oldest = recent_.empty() ? seq_ + 1 : recent_.front()->seq;
  if (oldest > seq + 1) return std::nullopt;
  std::vector<EventPtr> out;
  // Kept events are consecutive: the one after seq is at index seq + 1 - oldest.
  for (auto i = static_cast<std::size_t>(seq + 1 - oldest); i < recent_.size() && out.size() < n; ++i)
    out.push_back(recent_[i]);
  return out;
}

std::optional<std::uint64_t> Hub::resumable(std::string_view id) const {
  const auto dash = id.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::uint64_t epoch = 0, seq = 0;
  const auto parse = [](std::string_view s, std::uint64_t& v) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && end == s.data() + s.size();
  };
  // The events after seq must all be kept: range() checks it (and that seq is not ahead).
  if (!parse(id.substr(0, dash), epoch) || !parse(id.substr(dash + 1), seq) || epoch != epoch_ || !range(seq, 0))
    return std::nullopt;
  return seq;
}

}  // namespace cryptoflow::gateway
