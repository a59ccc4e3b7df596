// Recorded market data shared by the tests (tests/fixtures, see SOURCES.md).
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

}  // namespace cryptoflow::test
