// How a team reads an order book from crypto.books with cryptoflow's library (docs/order-books.md,
// "Reading a book"). It starts `seconds` back (more than the producer's BOOKS_SNAPSHOT_INTERVAL, so
// a snapshot is among what it reads), applies the symbol's records with BookReader, and prints the
// book's state once it has read to the end of the topic:
//   <SYMBOL> <update id> good|not-good <best bid> <qty> <best ask> <qty>
// Usage: KAFKA_BOOTSTRAP_SERVERS=host:9092 book_reader SYMBOL [seconds back, default 120]
#include <cstdlib>
#include <iostream>
#include <string>

#include "cryptoflow/kafka.hpp"
#include "cryptoflow/messages/book.hpp"
#include "cryptoflow/runtime/clock.hpp"

int main(int argc, char** argv) {
  using namespace cryptoflow;
  using std::chrono::seconds;
  if (argc < 2) {
    std::cerr << "usage: book_reader SYMBOL [seconds back]\n";
    return 2;
  }
  const std::string symbol = argv[1];
  const long back = argc > 2 ? std::atol(argv[2]) : 120;
  const char* brokers = std::getenv("KAFKA_BOOTSTRAP_SERVERS");  // NOLINT(concurrency-mt-unsafe): one thread yet
  kafka::Properties props;
  props.set("bootstrap.servers", brokers ? brokers : "localhost:9092");
  kafka::KafkaReader reader(props, "book-reader");

  // Where to start: `back` seconds ago. When nothing is that recent (a replay of recorded data,
  // or a broker that cannot search by time, like dev-broker), the whole topic (-2: the earliest).
  auto start = reader.offsets_for_time("crypto.books", wall_clock_ms() - back * 1000, seconds(10));
  bool found = false;
  for (const auto& [tp, offset] : start) found = found || offset < reader.watermarks(tp, seconds(10)).high;
  if (!found) start = reader.offsets_for_time("crypto.books", -2, seconds(10));
  reader.assign(start);

  // --- the reader's rule: BookReader ---
  BookReader book;
  for (;;) {
    if (auto record = reader.poll(std::chrono::milliseconds(200))) {
      if (auto r = decode_book_record(record->value); r && r.value->symbol == symbol) book.apply(*r.value);
      continue;
    }
    bool end = true;
    for (const auto& [tp, offset] : start) end = end && reader.at_end(tp);
    if (end) break;
  }
  const auto& bids = book.book().bids();
  const auto& asks = book.book().asks();
  std::cout << symbol << ' ' << book.id() << ' ' << (book.good() ? "good" : "not-good");
  if (!bids.empty()) std::cout << ' ' << bids.begin()->first.to_string() << ' ' << bids.begin()->second.to_string();
  if (!asks.empty()) std::cout << ' ' << asks.begin()->first.to_string() << ' ' << asks.begin()->second.to_string();
  std::cout << '\n';
  return book.good() ? 0 : 1;
}
