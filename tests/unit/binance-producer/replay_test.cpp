// Replay files: line prefixes and wrappers, Binance CSV dumps and recorded-stream CSVs.
#include "binance-producer/src/replay.hpp"

#include <catch2/catch.hpp>

#include "binance-producer/src/frame_decoder.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::binance;

TEST_CASE("Replay lines: prefixes - wrappers and cryptofeed headers") {
  ReplayLine l;
  CHECK_FALSE(split_replay_line("wss://stream.binance.com:9443/stream?streams=a <-> 1633998511.159679", l));
  CHECK_FALSE(split_replay_line("   ", l));
  REQUIRE(split_replay_line("1633998512.0633569: {\"a\":1}\r", l));
  CHECK(l.frame == "{\"a\":1}");
  CHECK(*l.received_ms == 1633998512063);
  REQUIRE(split_replay_line("{\"e\":\"trade\"}", l));
  CHECK_FALSE(l.received_ms.has_value());
}

TEST_CASE("Replay: Binance CSV dumps and recorded stream CSVs become the same trades as the stream") {
  const auto trx = test::trx_trades();
  auto read_all = [](const std::string& path) {
    ReplayFile f(std::string(CRYPTOFLOW_FIXTURES_DIR) + path);
    std::vector<Trade> out;
    while (auto line = f.next()) {
      const auto d = decode_frame(line->frame, line->received_ms.value_or(0));
      REQUIRE(d.kind == FrameKind::trade);
      out.push_back(d.trade);
    }
    return out;
  };
  const auto stream =
      read_all("/binance-data-processor/test_positive_binance_trade_stream_spot_trxusdt_04-03-2025.csv");
  REQUIRE(stream.size() == trx.size());
  for (std::size_t i = 0; i < trx.size(); ++i) {
    CHECK(stream[i].trade_id == trx[i].trade_id);
    CHECK(stream[i].trade_time == trx[i].trade_time);
    CHECK(stream[i].price == trx[i].price);
    CHECK(stream[i].buyer_is_maker == trx[i].buyer_is_maker);
    CHECK(stream[i].received_time >= stream[i].trade_time);
  }
  const auto dump = read_all("/binance-vision/TRXUSDT-trades-2025-03-04.csv");
  REQUIRE(dump.size() == 1000);
  for (std::size_t i = 0; i < dump.size(); ++i) {
    CHECK(dump[i].symbol == "TRXUSDT");
    CHECK(dump[i].trade_id == trx[i].trade_id);
    CHECK(dump[i].trade_time == trx[i].trade_time);
    CHECK(dump[i].quantity == trx[i].quantity);
    CHECK(dump[i].buyer_is_maker == trx[i].buyer_is_maker);
  }
  const auto agg = read_all("/binance-vision/XRPETH-aggTrades-2019-10-11.csv");
  ReplayFile jsonl(std::string(CRYPTOFLOW_FIXTURES_DIR) + "/freqtrade/XRPETH.aggTrade.jsonl");
  REQUIRE(agg.size() == 1000);
  for (const auto& t : agg) {
    const auto d = decode_frame(jsonl.next()->frame, 0);
    CHECK(t == d.trade);
  }
}
