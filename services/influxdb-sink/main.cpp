// influxdb-sink: crypto.candles / crypto.indicators / crypto.tickers -> InfluxDB (line protocol).
#include "cryptoflow/kafka/topic_creator.hpp"
#include "service.hpp"

int main(int argc, char** argv) {
  return cryptoflow::run_service(argc, argv, cryptoflow::influx::service(), cryptoflow::kafka::topic_creator);
}
