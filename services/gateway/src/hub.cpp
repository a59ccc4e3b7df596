#include "hub.hpp"

#include <charconv>

#include "cryptoflow/clock.hpp"

namespace cryptoflow::gateway {

std::string_view Event::kind_name() const {
  switch (kind) {
    case EventKind::candle: return "candle";
    case EventKind::indicator: return "indicator";
    case EventKind::ticker: return "ticker";
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

bool Filter::matches(const Event& e) const {
  if (!kinds.empty() && !kinds.contains(e.kind)) return false;
  if (e.kind == EventKind::ticker) return true;
  if (!symbols.empty() && !symbols.contains(e.symbol)) return false;
  return e.kind != EventKind::candle || intervals.empty() || intervals.contains(e.interval);
}

Hub::Hub(std::uint64_t epoch, std::size_t kept) : epoch_(epoch), kept_(kept) {}

void Hub::publish(Event event) {
  event.seq = ++seq_;
  event.time_ms = wall_clock_ms();
  auto e = std::make_shared<const Event>(std::move(event));
  recent_.push_back(e);
  if (recent_.size() > kept_) recent_.pop_front();
  std::erase_if(subscribers_, [](const std::weak_ptr<Subscriber>& w) { return w.expired(); });
  // deliver() may drop a slow subscriber, which can end it: iterate over a copy.
  const auto current = subscribers_;
  for (const auto& w : current)
    if (const auto s = w.lock()) s->deliver(e);
}

void Hub::subscribe(const std::weak_ptr<Subscriber>& s) {
  subscribers_.push_back(s);
}

std::string Hub::id_of(const Event& e) const {
  return std::to_string(epoch_) + "-" + std::to_string(e.seq);
}

std::optional<std::vector<EventPtr>> Hub::after(std::string_view id) const {
  const auto dash = id.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::uint64_t epoch = 0, seq = 0;
  const auto parse = [](std::string_view s, std::uint64_t& v) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && end == s.data() + s.size();
  };
  if (!parse(id.substr(0, dash), epoch) || !parse(id.substr(dash + 1), seq) || epoch != epoch_ || seq > seq_)
    return std::nullopt;
  // The events after seq must all be kept: the oldest kept is seq + 1 or earlier.
  const auto oldest = recent_.empty() ? seq_ + 1 : recent_.front()->seq;
  if (oldest > seq + 1) return std::nullopt;
  std::vector<EventPtr> out;
  for (const auto& e : recent_)
    if (e->seq > seq) out.push_back(e);
  return out;
}

}  // namespace cryptoflow::gateway
