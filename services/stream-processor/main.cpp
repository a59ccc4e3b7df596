// stream-processor: crypto.trades -> exact OHLCV candles on event time -> crypto.candles.
#include "cryptoflow/kafka/topic_creator.hpp"
#include "service.hpp"

int main(int argc, char** argv) {
  return cryptoflow::run_service(argc, argv, cryptoflow::processor::service(), cryptoflow::kafka::topic_creator);
}
