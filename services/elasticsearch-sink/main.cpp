// elasticsearch-sink: crypto.candles / crypto.indicators / crypto.tickers -> Elasticsearch (_bulk).
#include "cryptoflow/kafka/topic_creator.hpp"
#include "service.hpp"

int main(int argc, char** argv) {
  return cryptoflow::run_service(argc, argv, cryptoflow::elastic::service(), cryptoflow::kafka::topic_creator);
}
