#pragma once
// The live side: every change the feed applies becomes an Event with a sequence number; the hub
// keeps the most recent ones (for SSE's Last-Event-ID) and hands each to the subscribers whose
// filter takes it. Used on the server's I/O thread only (the feed posts to it).
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cryptoflow/messages/book.hpp"
#include "cryptoflow/messages/messages.hpp"
#include "trades.hpp"

namespace cryptoflow::gateway {

// binance: a Binance stream's payload made by the server (trades, tickers, rolled-up klines),
// broadcast to the WebSocket clients that name its stream; never kept, never sent to native clients.
// trade, book: from the feed to the server, which makes the binance events of them.
enum class EventKind { candle, indicator, ticker, binance, trade, book };

struct Event {
  std::uint64_t seq = 0;
  EventKind kind = EventKind::candle;
  std::string symbol;    // candle, indicator (upper case)
  std::string interval;  // candle
  std::string coin;      // ticker
  std::string json;      // the message as the contract writes it
  std::optional<Candle> candle;
  std::optional<HeldTrade> trade;          // trade
  bool aggregate = false;                  // trade: an aggregate trade (the symbol's feed carries those)
  std::shared_ptr<const BookRecord> book;  // book: the record applied (an update, or the snapshot that made it good)
  bool book_good = true;                   // book: false when the record made the book not good
  std::int64_t time_ms = 0;                // when the hub published it (Binance's "E")
  std::string stream;                      // binance: the stream it belongs to
  // Binance's kline event for a candle, made once for every Binance client (I/O thread only);
  // a binance event's payload.
  mutable std::shared_ptr<const std::string> binance_payload;
  [[nodiscard]] std::string_view kind_name() const;
};
using EventPtr = std::shared_ptr<const Event>;

Event make_event(const Candle& c);
Event make_event(const Indicator& i);
Event make_event(const Ticker& t);
Event binance_event(std::string stream, std::string payload);
Event make_event(const Trade& t);
Event make_event(const BookRecord& r, bool good);

// Which events a native client (/v1/stream, /v1/ws) wants: empty sets take everything.
struct Filter {
  std::set<std::string> symbols, intervals;
  std::set<EventKind> kinds;
  [[nodiscard]] bool matches(const Event& e) const;
};

class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual void deliver(const EventPtr& event) = 0;
};

class Hub {
 public:
  // epoch: a per-process number that makes event ids unique across restarts. kept: events kept
  // for resuming clients at most; kept_bytes: their bytes (JSON and candle) at most.
  Hub(std::uint64_t epoch, std::size_t kept, std::size_t kept_bytes = SIZE_MAX);

  // Numbers the event, keeps it, and hands it on.
  void publish(Event event);
  // Hands the event on, neither numbered nor kept (a binance event: live only).
  void broadcast(Event event);
  // The subscriber gets every event published from now on until unsubscribe(returned id): a
  // session unsubscribes when it ends, so nothing of it is held while no event is published.
  std::uint64_t subscribe(const std::weak_ptr<Subscriber>& s);
  void unsubscribe(std::uint64_t id);

  // "<epoch>-<seq>": the SSE id of an event.
  [[nodiscard]] std::string id_of(const Event& e) const;
  // The kept events after the one with this id; nullopt when the id is not from this process or
  // is older than what is kept (the client then gets a snapshot instead).
  [[nodiscard]] std::optional<std::vector<EventPtr>> after(std::string_view id) const;
  // The sequence number an id names, when it is this process's and every event after it is
  // still kept (a resume from it misses nothing).
  [[nodiscard]] std::optional<std::uint64_t> resumable(std::string_view id) const;
  // Up to n kept events after seq, in order; nullopt when an event after seq is no longer kept.
  [[nodiscard]] std::optional<std::vector<EventPtr>> range(std::uint64_t seq, std::size_t n) const;
  [[nodiscard]] std::uint64_t last_seq() const { return seq_; }
  [[nodiscard]] std::size_t subscribers() const { return subscribers_.size(); }
  [[nodiscard]] std::size_t kept_bytes() const { return bytes_; }

 private:
  void deliver(const EventPtr& e);
  std::uint64_t epoch_;
  std::size_t kept_;
  std::size_t kept_bytes_;
  std::size_t bytes_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t next_subscriber_ = 0;
  std::deque<EventPtr> recent_;
  std::map<std::uint64_t, std::weak_ptr<Subscriber>> subscribers_;
};

}  // namespace cryptoflow::gateway
