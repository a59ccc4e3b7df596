// s3-sink: crypto.trades / crypto.candles / crypto.indicators / crypto.tickers -> S3 (JSON lines, gzip).
#include "cryptoflow/kafka/topic_creator.hpp"
#include "service.hpp"

int main(int argc, char** argv) {
  return cryptoflow::run_service(argc, argv, cryptoflow::s3::service(), cryptoflow::kafka::topic_creator);
}
