#pragma once
// An order book kept the way Binance documents it ("How to manage a local order book correctly",
// spot and USD-M futures): the diff stream is buffered, a REST snapshot is fetched, the events it
// already contains are dropped, and every later event must follow the one before it - spot:
// U == previous u + 1; USD-M futures: pu == previous u (their update ids are shared by all
// symbols, so a snapshot's lastUpdateId can fall between two of a symbol's events: the first
// event applied is the one with pu <= lastUpdateId < u). A gap, an event out of order or a new
// connection starts a resync; until the next snapshot is in place the old book is kept, marked
// as not in sync. Prices and quantities are exact decimals; a quantity is absolute and 0 removes
// the level (a removal of a level the book does not have is normal).
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/messages/book.hpp"

namespace cryptoflow::binance {

// One diff-depth event (<symbol>@depth, <symbol>@depth@100ms).
struct DepthUpdate {
  std::string symbol;
  std::int64_t event_time = 0;
  std::int64_t first_id = 0;                      // U
  std::int64_t final_id = 0;                      // u
  std::optional<std::int64_t> previous_final_id;  // pu: USD-M futures only
  std::vector<PriceLevel> bids, asks;
};

// An answer of GET /api/v3/depth (spot) or /fapi/v1/depth (USD-M futures).
struct DepthSnapshot {
  std::int64_t last_update_id = 0;
  std::vector<PriceLevel> bids, asks;
};

// A depthUpdate event, alone or in a combined stream's wrapper ({"stream":..,"data":{..}}); nullopt for anything else,
// a malformed decimal or more than kMaxLevelsPerSide levels.
std::optional<DepthUpdate> decode_depth_update(std::string_view json);
std::optional<DepthSnapshot> decode_depth_snapshot(std::string_view json);

class BookSync {
 public:
  enum class Chain { spot, futures };
  enum class Result {
    buffered,  // no snapshot in place yet: kept for when one is
    applied,   // the book moved to the event's u
    stale,     // the snapshot in place already contains it (u <= its lastUpdateId): dropped
    gap,       // it does not follow the last event applied: out of sync until the next snapshot
    synced,    // (snapshot) in place, the buffered events after it applied
    too_old,   // (snapshot) older than the first buffered event: fetch another
    ignored,   // (snapshot) the book is in sync already
  };
  // depth: the snapshot's limit (the book keeps as many levels a side); max_buffered: events
  // kept while waiting for a snapshot (the oldest go first).
  BookSync(Chain chain, std::size_t depth, std::size_t max_buffered = 10'000);

  Result on_update(DepthUpdate update);
  Result on_snapshot(const DepthSnapshot& snapshot);
  void restart();  // a new connection: out of sync until the next snapshot

  [[nodiscard]] bool synced() const { return synced_; }
  [[nodiscard]] std::int64_t last_update_id() const { return last_id_; }  // of the book in place
  [[nodiscard]] const Book& book() const { return book_; }
  [[nodiscard]] std::size_t buffered() const { return buffer_.size(); }

 private:
  Result apply(const DepthUpdate& update);

  Chain chain_;
  std::size_t depth_, max_buffered_;
  Book book_;
  bool synced_ = false;
  bool since_snapshot_ = false;  // nothing applied since the snapshot yet
  std::int64_t last_id_ = 0;
  std::deque<DepthUpdate> buffer_;
};

}  // namespace cryptoflow::binance
