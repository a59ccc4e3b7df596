// binance-producer: Binance trades -> crypto.trades (key = symbol, timestamp = trade time).
#include "cryptoflow/kafka/topic_creator.hpp"
#include "service.hpp"

int main(int argc, char** argv) {
  return cryptoflow::run_service(argc, argv, cryptoflow::binance::service(), cryptoflow::kafka::topic_creator);
}
