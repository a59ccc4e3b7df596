#pragma once
// The recorded order books the tests hold the code to: cryptofeed's Binance WebSocket files
// (spot BINANCE.ws.1.0, USD-M futures BINANCE_FUTURES.ws.1.0) with the REST depth snapshots
// taken with them (*.http.0.0), in tests/fixtures/cryptofeed (SOURCES.md there).
//
// The reference book is built here, independently of the code under test: its own parsing
// (RapidJSON, exact decimals), each side a vector sorted best first, and Binance's procedure as
// its docs state it (drop events the snapshot contains; the first applied covers the id after
// the snapshot's; then U == previous u + 1, or for futures pu == previous u).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cryptoflow/messages/book.hpp"

namespace cryptoflow::test {

struct RecordedDepth {
  double ts = 0;      // the recorder's receive time, seconds
  std::string frame;  // the combined-stream line as received ({"stream":..,"data":{..}})
  std::string symbol;
  std::int64_t event_time = 0, first_id = 0, final_id = 0;
  std::optional<std::int64_t> previous_final_id;  // futures: pu
  std::vector<PriceLevel> bids, asks;
};

struct RecordedSnapshot {
  double ts = 0;
  std::string body;  // the REST answer as received
  std::int64_t last_update_id = 0;
  std::vector<PriceLevel> bids, asks;
};

struct DepthRecording {
  bool futures = false;
  std::map<std::string, RecordedSnapshot> snapshots;  // by symbol
  std::vector<RecordedDepth> events;                  // every depth event, in the order received
};

// prefix: "BINANCE" or "BINANCE_FUTURES".
DepthRecording load_depth_recording(const std::string& prefix);

struct RefBook {
  std::int64_t id = 0;
  std::vector<PriceLevel> bids, asks;  // best first
  void apply(const std::vector<PriceLevel>& b, const std::vector<PriceLevel>& a, std::size_t depth);
  friend bool operator==(const RefBook&, const RefBook&) = default;
};

// Each symbol's reference books: the snapshot's (trimmed to depth), then the book after each
// event applied, in order. REQUIREs the chain to hold.
std::map<std::string, std::vector<RefBook>> reference_books(const DepthRecording& r, std::size_t depth);

// A book's sides as the reference holds them.
std::vector<PriceLevel> levels_of(const Book::Bids& side);
std::vector<PriceLevel> levels_of(const Book::Asks& side);
inline bool same_book(const Book& book, const RefBook& ref) {
  return levels_of(book.bids()) == ref.bids && levels_of(book.asks()) == ref.asks;
}

// A REST answer of /api/v3/depth holding the reference book ({"lastUpdateId":..,"bids":..,"asks":..}).
std::string depth_answer(const RefBook& book, std::size_t limit);

// The recording as a fake exchange serves it (FakeExchangeOptions frames and depth): every line of
// the WebSocket file in order, and the REST depth answer for a symbol once `emitted` of them went
// out - the reference book after the symbol's last event among them (the recorded snapshot before
// any), as Binance would answer at that moment.
struct ServedDepth {
  std::vector<std::string> frames;
  std::function<std::string(const std::string& symbol, std::size_t emitted)> snapshot_now;
};
ServedDepth served_depth(const std::string& prefix, const DepthRecording& rec,
                         const std::map<std::string, std::vector<RefBook>>& ref, std::size_t depth);

}  // namespace cryptoflow::test
