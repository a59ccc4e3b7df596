// coingecko-producer: CoinGecko /coins/markets snapshots -> crypto.tickers (key <coin>:<vs>).
#include "cryptoflow/kafka/topic_creator.hpp"
#include "service.hpp"

int main(int argc, char** argv) {
  return cryptoflow::run_service(argc, argv, cryptoflow::coingecko::service(), cryptoflow::kafka::topic_creator);
}
