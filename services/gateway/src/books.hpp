#pragma once
// The order books the gateway serves (/api/v3/depth, ticker/bookTicker, the @depth and
// @bookTicker streams): one BookReader (cryptoflow/messages/book.hpp) per symbol, fed from crypto.books.
// A book is served only while it is good: after a resync or a break in the chain the gateway
// answers "unavailable" until the producer's next snapshot - never a book it knows may be wrong.
// Written on the feed's thread, read on the I/O thread and the workers (one mutex; reads copy).
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cryptoflow/messages/book.hpp"

namespace cryptoflow::gateway {

struct BookView {
  std::int64_t id = 0;  // lastUpdateId
  std::vector<PriceLevel> bids, asks;
};

class BookStore {
 public:
  // max_books: symbols held at most (a new one beyond is refused and counted by the feed).
  explicit BookStore(std::size_t max_books = 2000) : max_books_(max_books) {}
  enum class Change {
    none,      // nothing a client sees changed (an update while not good)
    good,      // a snapshot: the book is good (again), from its id
    update,    // an update applied to a good book
    not_good,  // a resync or a break: not served until the next snapshot
    refused,   // a new symbol beyond max_books
  };
  Change apply(const BookRecord& r);
  // The best `limit` levels a side; nullopt while the symbol has no good book.
  [[nodiscard]] std::optional<BookView> view(const std::string& symbol, std::size_t limit) const;
  // Whether a book of the symbol is held at all (good or not).
  [[nodiscard]] bool holds(const std::string& symbol) const;
  [[nodiscard]] bool has_symbol(const std::string& symbol) const { return holds(symbol); }
  [[nodiscard]] std::vector<std::string> symbols() const;  // with a good book
  [[nodiscard]] std::size_t size() const;

 private:
  std::size_t max_books_;
  mutable std::mutex mu_;
  std::map<std::string, BookReader, std::less<>> books_;
};

}  // namespace cryptoflow::gateway
