#include "cryptoflow/kafka/mock_cluster.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "native.hpp"

namespace cryptoflow::kafka {

struct MockCluster::Impl {
  native::HandlePtr rk;                        // the cluster's own client handle
  rd_kafka_mock_cluster_t* cluster = nullptr;  // destroyed before rk
  std::string bootstrap;
  ~Impl() {
    if (cluster) rd_kafka_mock_cluster_destroy(cluster);
  }
};

MockCluster::MockCluster(int brokers) : impl_(std::make_unique<Impl>()) {
  Properties p;
  p.set("client.id", "mock-cluster");
  impl_->rk = native::make_handle(RD_KAFKA_PRODUCER, native::make_conf(p, RD_KAFKA_PRODUCER));
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->rk.get(), brokers);
  if (!impl_->cluster) throw KafkaError(ErrorKind::failed, "cannot create the mock cluster");
  impl_->bootstrap = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

MockCluster::~MockCluster() = default;

void MockCluster::create_topic(const std::string& name, int partitions, int replication_factor) {
  native::check(rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions, replication_factor),
                "create topic " + name);
}

const std::string& MockCluster::bootstrap_servers() const {
  return impl_->bootstrap;
}

void MockCluster::set_broker_down(int broker_id, bool down) {
  native::check(down ? rd_kafka_mock_broker_set_down(impl_->cluster, broker_id)
                     : rd_kafka_mock_broker_set_up(impl_->cluster, broker_id),
                "mock broker " + std::to_string(broker_id));
}

void MockCluster::fail_requests(std::int16_t api_key, const std::vector<std::int16_t>& error_codes) {
  std::vector<rd_kafka_resp_err_t> errors;
  errors.reserve(error_codes.size());
  for (const auto code : error_codes) errors.push_back(static_cast<rd_kafka_resp_err_t>(code));
  rd_kafka_mock_push_request_errors_array(impl_->cluster, api_key, errors.size(), errors.data());
}

}  // namespace cryptoflow::kafka
