// Recorded market data shared by the tests (tests/fixtures, see SOURCES.md).
#include <rapidjson/document.h>

#include <fstream>
#include <sstream>

#include "test_support.hpp"

namespace cryptoflow::test {

namespace {
std::vector<std::vector<std::string>> trx_rows() {
  std::ifstream in(std::string(CRYPTOFLOW_FIXTURES_DIR) +
                   "/binance-data-processor/test_positive_binance_trade_stream_spot_trxusdt_04-03-2025.csv");
  std::string line;
  std::getline(in, line);
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (f.size() == 11) rows.push_back(std::move(f));
  }
  return rows;
}
}  // namespace

std::vector<std::string> trx_frames() {
  std::vector<std::string> out;
  for (const auto& f : trx_rows())
    out.push_back("{\"stream\":\"trxusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":" + f[3] + ",\"s\":\"" + f[5] +
                  "\",\"t\":" + f[6] + ",\"p\":\"" + f[7] + "\",\"q\":\"" + f[8] + "\",\"T\":" + f[4] +
                  ",\"m\":" + (f[9] == "1" ? "true" : "false") + ",\"M\":true}}");
  return out;
}

std::vector<Trade> trx_trades() {
  std::vector<Trade> out;
  for (const auto& f : trx_rows()) {
    Trade t;
    t.source = "binance";
    t.symbol = f[5];
    t.trade_id = std::stoll(f[6]);
    t.trade_time = std::stoll(f[4]) / 1000;
    t.event_time = std::stoll(f[3]) / 1000;
    t.price = *Decimal::parse(f[7]);
    t.quantity = *Decimal::parse(f[8]);
    t.buyer_is_maker = f[9] == "1";
    out.push_back(t);
  }
  return out;
}

std::vector<Trade> xrpeth_trades() {
  std::ifstream in(std::string(CRYPTOFLOW_FIXTURES_DIR) + "/freqtrade/XRPETH.aggTrade.jsonl");
  std::vector<Trade> out;
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    if (!d.IsObject()) continue;
    Trade t;
    t.source = "binance";
    t.symbol = d["s"].GetString();
    t.trade_id = d["a"].GetInt64();
    t.price = *Decimal::parse(d["p"].GetString());
    t.quantity = *Decimal::parse(d["q"].GetString());
    t.first_trade_id = d["f"].GetInt64();
    t.last_trade_id = d["l"].GetInt64();
    t.trade_time = d["T"].GetInt64();
    t.event_time = d["E"].GetInt64();
    t.buyer_is_maker = d["m"].GetBool();
    out.push_back(t);
  }
  return out;
}

}  // namespace cryptoflow::test
