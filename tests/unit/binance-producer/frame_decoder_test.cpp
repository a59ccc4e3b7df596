#include "binance-producer/src/frame_decoder.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "binance-producer/src/replay.hpp"

using namespace cryptoflow;
using namespace cryptoflow::binance;

TEST_CASE("A raw trade event decodes to the contract's trade") {
  const auto d = decode_frame(R"({"e":"trade","E":1672515782136,"s":"bnbbtc","t":12345,"p":"0.00100000",)"
                              R"("q":"100.00000000","T":1672515782134,"m":true,"M":true})",
                              1672515782200);
  REQUIRE(d.kind == FrameKind::trade);
  CHECK(d.trade.symbol == "BNBBTC");
  CHECK(d.trade.trade_id == 12345);
  CHECK(d.trade.price.to_string() == "0.00100000");
  CHECK(d.trade.quantity.to_string() == "100.00000000");
  CHECK(d.trade.buyer_is_maker);
  CHECK(d.trade.event_time == 1672515782136);
  CHECK(d.trade.trade_time == 1672515782134);
  CHECK(d.trade.received_time == 1672515782200);
  CHECK_FALSE(d.trade.first_trade_id.has_value());
  CHECK(d.trade.trade_count() == 1);
}

TEST_CASE("Combined-stream aggTrade with microsecond times") {
  const auto d = decode_frame(R"({"stream":"trxusdt@aggTrade","data":{"e":"aggTrade","E":1741046401271969,)"
                              R"("s":"TRXUSDT","a":5,"p":"0.2312","q":"2619.4","f":100,"l":102,)"
                              R"("T":1741046401271497,"m":false,"M":true}})",
                              0);
  REQUIRE(d.kind == FrameKind::trade);
  CHECK(d.trade.event_time == 1741046401271);
  CHECK(d.trade.trade_time == 1741046401271);
  CHECK(d.trade.trade_count() == 3);
  CHECK(*d.trade.first_trade_id == 100);
}

TEST_CASE("Non-trade events are ignored - broken ones are classified with the field") {
  CHECK(decode_frame(R"({"result":null,"id":1})", 0).kind == FrameKind::ignored);
  CHECK(decode_frame(R"({"stream":"x@depth","data":{"e":"depthUpdate","E":1}})", 0).kind == FrameKind::ignored);
  CHECK(decode_frame("not json", 0).kind == FrameKind::malformed);
  CHECK(decode_frame("[]", 0).kind == FrameKind::malformed);
  CHECK(decode_frame(std::string(kMaxFrameBytes + 1, 'x'), 0).kind == FrameKind::malformed);
  auto d = decode_frame(R"({"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":1.5,"q":"1","T":1,"m":true})", 0);
  CHECK(d.kind == FrameKind::invalid);
  CHECK(d.error == "field 'p': expected a decimal string");
  d = decode_frame(R"({"e":"aggTrade","E":1,"s":"BTC/USDT","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true})", 0);
  CHECK(d.error == "field 's': symbol has characters other than letters and digits");
  d = decode_frame(R"({"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":5,"l":4,"T":1,"m":true})", 0);
  CHECK(d.error == "field 'l': below field 'f'");
  d = decode_frame(R"({"e":"trade","E":1,"s":"BTCUSDT","t":-1,"p":"1","q":"1","T":1,"m":true})", 0);
  CHECK(d.error == "field 't': expected a non-negative integer");
}

TEST_CASE("Every recorded cryptofeed frame decodes - the aggTrades among them are trades") {
  for (const char* f : {"BINANCE.ws.1.0", "BINANCE_US.ws.1.0", "BINANCE_FUTURES.ws.1.0"}) {
    ReplayFile file(std::string(CRYPTOFLOW_FIXTURES_DIR) + "/cryptofeed/" + f);
    int trades = 0, ignored = 0, bad = 0;
    while (auto line = file.next()) {
      const auto d = decode_frame(line->frame, *line->received_ms);
      if (d.kind == FrameKind::trade) {
        ++trades;
        CHECK(check_trade(d.trade).empty());
      } else if (d.kind == FrameKind::ignored) {
        ++ignored;
      } else {
        ++bad;
      }
    }
    INFO(f);
    CHECK(trades > 0);
    CHECK(ignored > 0);
    CHECK(bad == 0);
  }
}

TEST_CASE("Decoder fuzz: mutated recorded frames never crash (corpus-driven)") {
  // A corpus of real frames, mutated by byte flips, truncation and splicing. The decoder must
  // classify every input; ASan/UBSan builds check memory safety on the way.
  std::vector<std::string> corpus;
  ReplayFile file(std::string(CRYPTOFLOW_FIXTURES_DIR) + "/cryptofeed/BINANCE.ws.1.0");
  while (auto line = file.next()) corpus.push_back(line->frame);
  REQUIRE(corpus.size() > 50);
  std::mt19937_64 rng(42);
  const char specials[] = "{}[]\":,\\-0123456789eE.tfn \x00\xff";
  std::size_t decoded = 0;
  for (int i = 0; i < 200'000; ++i) {
    std::string s = corpus[rng() % corpus.size()];
    switch (rng() % 4) {
      case 0: s[rng() % s.size()] = specials[rng() % (sizeof specials - 1)]; break;
      case 1: s.resize(rng() % s.size()); break;
      case 2: s.insert(rng() % s.size(), corpus[rng() % corpus.size()]); break;
      case 3: s[rng() % s.size()] = static_cast<char>(rng() & 0xff); break;
    }
    const auto d = decode_frame(s, 0);
    if (d.kind == FrameKind::trade) CHECK(check_trade(d.trade).empty());
    ++decoded;
  }
  CHECK(decoded == 200'000);
}
