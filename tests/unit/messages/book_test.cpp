// crypto.books records (cryptoflow/messages/book.hpp): the codec of each kind, the errors that name the
// field, and the reader's rule - a book is good from a snapshot while each update follows the
// id it is at; a resync or an update that does not follow makes it not good until a snapshot.
#include "cryptoflow/messages/book.hpp"

#include <catch2/catch.hpp>

#include "cryptoflow/messages/schema.hpp"

using namespace cryptoflow;

namespace {
Decimal d(const char* s) {
  return *Decimal::parse(s);
}
BookRecord snapshot(std::int64_t id, std::vector<PriceLevel> bids, std::vector<PriceLevel> asks, std::int64_t depth) {
  BookRecord r;
  r.kind = BookRecord::Kind::snapshot;
  r.source = "binance";
  r.symbol = "BTCUSDT";
  r.id = id;
  r.event_time = r.received_time = 1'700'000'000'000;
  r.depth = depth;
  r.bids = std::move(bids);
  r.asks = std::move(asks);
  return r;
}
BookRecord update(std::int64_t previous, std::int64_t first, std::int64_t id, std::vector<PriceLevel> bids,
                  std::vector<PriceLevel> asks) {
  BookRecord r;
  r.kind = BookRecord::Kind::update;
  r.source = "binance";
  r.symbol = "BTCUSDT";
  r.previous_id = previous;
  r.first_id = first;
  r.id = id;
  r.event_time = r.received_time = 1'700'000'000'100;
  r.bids = std::move(bids);
  r.asks = std::move(asks);
  return r;
}
}  // namespace

TEST_CASE("book records: each kind round-trips, keeps every digit and validates against its schema") {
  const auto s = snapshot(10, {{d("100.10"), d("1.50000000")}, {d("100.00"), d("2")}}, {{d("100.20"), d("0.1")}}, 2);
  const auto u = update(10, 11, 12, {{d("100.10"), d("0")}}, {{d("100.15"), d("3.25")}});
  BookRecord x;
  x.kind = BookRecord::Kind::resync;
  x.source = "binance";
  x.symbol = "BTCUSDT";
  x.id = 12;
  x.event_time = x.received_time = 5;
  x.reason = "gap";
  CHECK(to_json(s) == R"({"type":"snapshot","source":"binance","symbol":"BTCUSDT","id":10,"event_time":1700000000000,)"
                      R"("received_time":1700000000000,"depth":2,"bids":[["100.10","1.50000000"],["100.00","2"]],)"
                      R"("asks":[["100.20","0.1"]]})");
  const std::pair<const BookRecord*, MessageKind> all[] = {
      {&s, MessageKind::book_snapshot}, {&u, MessageKind::book_update}, {&x, MessageKind::book_resync}};
  for (const auto& [r, kind] : all) {
    const auto json = to_json(*r);
    const auto back = decode_book_record(json);
    REQUIRE(back);
    CHECK(*back.value == *r);
    CHECK(SchemaValidator(kind).validate(json).empty());
  }
}

TEST_CASE("book records: what is not one is refused, naming the field") {
  const auto err = [](const std::string& json) { return decode_book_record(json).error; };
  const std::string upd = R"({"type":"update","source":"binance","symbol":"BTCUSDT","id":12,"previous_id":10,)"
                          R"("first_id":11,"event_time":1,"received_time":1,"bids":[["1","2"]],"asks":[]})";
  CHECK(decode_book_record(upd));
  CHECK(err("{") == "not a JSON object");
  CHECK(err(R"({"type":"delta"})").find("'type'") != std::string::npos);
  const auto with = [&](const std::string& from, const std::string& to) {
    auto s = upd;
    s.replace(s.find(from), from.size(), to);
    return err(s);
  };
  CHECK(with(R"("symbol":"BTCUSDT")", R"("symbol":"btcusdt")").find("'symbol'") != std::string::npos);
  CHECK(with(R"("previous_id":10)", R"("previous_id":12)").find("'id'") != std::string::npos);  // must move forward
  CHECK(with(R"([["1","2"]])", R"([["-1","2"]])").find("'bids'") != std::string::npos);
  CHECK(with(R"([["1","2"]])", R"([["1","x"]])").find("'bids'") != std::string::npos);
  CHECK(with(R"([["1","2"]])", R"([["1","2","3"]])").find("'bids'") != std::string::npos);
  CHECK(with(R"("first_id":11,)", "").find("'first_id'") != std::string::npos);
  CHECK(with(R"("type":"update")", R"("type":"resync")").find("'reason'") != std::string::npos);
  std::string many = R"({"type":"snapshot","source":"b","symbol":"X","id":1,"event_time":1,"received_time":1,)"
                     R"("depth":5,"asks":[],"bids":[)";
  for (std::size_t i = 0; i <= kMaxLevelsPerSide; ++i) many += i ? R"(,["1","1"])" : R"(["1","1"])";
  CHECK(err(many + "]}").find("'bids'") != std::string::npos);
  CHECK(err(std::string(kMaxMessageBytes + 1, ' ')).find("larger") != std::string::npos);
}

TEST_CASE("book reader: good from a snapshot while updates follow - a break or a resync until the next snapshot") {
  BookReader r;
  CHECK(r.apply(update(1, 2, 3, {}, {})) == BookReader::Result::ignored);  // nothing to apply it to
  CHECK_FALSE(r.good());
  REQUIRE(r.apply(snapshot(10, {{d("100"), d("1")}, {d("99"), d("1")}}, {{d("101"), d("1")}}, 2)) ==
          BookReader::Result::snapshot);
  CHECK(r.good());
  // The first update after a snapshot may start before its id (Binance's U <= id + 1): it names
  // the id it follows, which is what the reader checks.
  CHECK(r.apply(update(10, 8, 12, {{d("99.5"), d("4")}}, {{d("101"), d("0")}})) == BookReader::Result::applied);
  CHECK(r.id() == 12);
  CHECK(r.book().bids().size() == 2);  // trimmed to the snapshot's depth: 99 went
  CHECK(r.book().bids().rbegin()->first == d("99.5"));
  CHECK(r.book().asks().empty());
  CHECK(r.apply(update(13, 14, 15, {}, {})) == BookReader::Result::broken);  // 13 was never seen
  CHECK_FALSE(r.good());
  CHECK(r.apply(update(15, 16, 17, {}, {})) == BookReader::Result::ignored);
  CHECK(r.apply(snapshot(17, {{d("1"), d("1")}}, {}, 2)) == BookReader::Result::snapshot);
  CHECK(r.good());
  BookRecord x;
  x.kind = BookRecord::Kind::resync;
  CHECK(r.apply(x) == BookReader::Result::resync);
  CHECK_FALSE(r.good());
}
