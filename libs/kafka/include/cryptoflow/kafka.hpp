#pragma once
// libs/kafka: everything cryptoflow does with Kafka. librdkafka stays behind this line: no
// header here names one of its types, and it is linked privately.
//   client.hpp      the interfaces the processing loops take (Producer, Consumer, Reader)
//   producer.hpp    KafkaProducer (idempotent or transactional)
//   consumer.hpp    KafkaConsumer (consumer group, manual commits, cooperative rebalancing)
//   reader.hpp      KafkaReader (assign-only: state restore, offsets for a timestamp)
//   admin.hpp       KafkaAdmin (topics, configs, committed offsets, lag, watermarks)
//   mock_cluster.hpp  the in-process broker of dev-broker and the integration tests
//   topic_creator.hpp  topic creation for the service host (libs/runtime)
//   dead_letter.hpp, properties.hpp, record.hpp, error.hpp
#include "cryptoflow/kafka/admin.hpp"
#include "cryptoflow/kafka/client.hpp"
#include "cryptoflow/kafka/consumer.hpp"
#include "cryptoflow/kafka/dead_letter.hpp"
#include "cryptoflow/kafka/error.hpp"
#include "cryptoflow/kafka/mock_cluster.hpp"
#include "cryptoflow/kafka/producer.hpp"
#include "cryptoflow/kafka/properties.hpp"
#include "cryptoflow/kafka/reader.hpp"
#include "cryptoflow/kafka/record.hpp"
#include "cryptoflow/kafka/topic_creator.hpp"
