#pragma once
// Order books: the levels of a book, the records of crypto.books (key = symbol), and the rule a
// reader of that topic follows to rebuild a book and know whether it is good (docs/order-books.md).
//
// The topic carries three kinds of record per symbol, in order:
//   snapshot  the whole book (best `depth` levels a side) as of update id `id`;
//   update    one diff event: levels whose quantity changed (0: removed), taking the book from
//             update id `previous_id` to `id` (Binance's U is `first_id`);
//   resync    the producer lost the chain after `id` (a gap, a lost connection, a restart): the
//             book is not good until the next snapshot.
// A reader's book is good while every update it applies names as `previous_id` the id its book
// is at; anything else makes it not good until a snapshot. The producer writes a snapshot when a
// book comes (back) in sync and every snapshot interval after, so a reader starting anywhere has
// a good book at most one interval after its start offset.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/messages/decimal.hpp"
#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow {

struct PriceLevel {
  Decimal price, quantity;
  friend bool operator==(const PriceLevel&, const PriceLevel&) = default;
};

// At most this many levels a side in one event, snapshot or record (Binance's deepest snapshot
// has 5,000).
inline constexpr std::size_t kMaxLevelsPerSide = 10'000;

// Both sides of a book, best first. A quantity is absolute: 0 removes the level (removing a
// level the book does not have is normal).
class Book {
 public:
  using Bids = std::map<Decimal, Decimal, std::greater<>>;
  using Asks = std::map<Decimal, Decimal>;
  void clear();
  void apply(const std::vector<PriceLevel>& bids, const std::vector<PriceLevel>& asks);
  // Keeps the best `levels` of each side: Binance sends no update for a level outside the
  // snapshot's depth that does not change, so a deeper level could be wrong.
  void trim(std::size_t levels);
  [[nodiscard]] bool crossed() const;  // best bid >= best ask
  [[nodiscard]] const Bids& bids() const { return bids_; }
  [[nodiscard]] const Asks& asks() const { return asks_; }
  // The best n levels of a side, as records and answers carry them.
  [[nodiscard]] std::vector<PriceLevel> top_bids(std::size_t n) const;
  [[nodiscard]] std::vector<PriceLevel> top_asks(std::size_t n) const;
  friend bool operator==(const Book&, const Book&) = default;

 private:
  Bids bids_;
  Asks asks_;
};

struct BookRecord {
  enum class Kind { snapshot, update, resync };
  Kind kind = Kind::update;
  std::string source;  // "binance"
  std::string symbol;
  std::int64_t id = 0;           // snapshot/update: the book's update id after it; resync: the last good one (0: none)
  std::int64_t previous_id = 0;  // update: the id it follows
  std::int64_t first_id = 0;     // update: Binance's U
  std::int64_t event_time = 0;   // update: the exchange's E; snapshot/resync: when it was taken (ms)
  std::int64_t received_time = 0;
  std::int64_t depth = 0;  // snapshot: levels a side the book keeps
  std::vector<PriceLevel> bids, asks;
  std::string reason;  // resync: "gap", "connection", "start"
  friend bool operator==(const BookRecord&, const BookRecord&) = default;
};

std::string_view to_string(BookRecord::Kind kind);
std::string to_json(const BookRecord& r);
void append_json(std::string& out, const BookRecord& r);
// A record of any kind; a missing or ill-typed field, an unknown type, more than
// kMaxLevelsPerSide levels, a price <= 0 or a negative quantity is an error naming it.
Decoded<BookRecord> decode_book_record(std::string_view json);

// The reader's rule (the same code the gateway runs; docs/examples/read_books.py is it in Python).
class BookReader {
 public:
  enum class Result { snapshot, applied, resync, broken, ignored };
  // snapshot: the book replaced, good; applied: the update followed, good; resync: the producer
  // said the book is not good; broken: an update that does not follow the book's id (the book
  // is not good until a snapshot); ignored: an update while not good.
  Result apply(const BookRecord& r);
  [[nodiscard]] bool good() const { return good_; }
  [[nodiscard]] std::int64_t id() const { return id_; }
  [[nodiscard]] std::int64_t depth() const { return depth_; }
  [[nodiscard]] const Book& book() const { return book_; }

 private:
  Book book_;
  std::int64_t id_ = 0, depth_ = 0;
  bool good_ = false;
};

}  // namespace cryptoflow
