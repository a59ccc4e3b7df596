// gateway: crypto.candles / crypto.indicators / crypto.tickers -> Binance- and CoinGecko-compatible
// REST, WebSocket and SSE, and the web page.
#include "cryptoflow/kafka/topic_creator.hpp"
#include "service.hpp"

int main(int argc, char** argv) {
  return cryptoflow::run_service(argc, argv, cryptoflow::gateway::service(), cryptoflow::kafka::topic_creator);
}
