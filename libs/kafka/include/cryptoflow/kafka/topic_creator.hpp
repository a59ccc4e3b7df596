#pragma once
// The service host's topic creation (service_host.hpp) over KafkaAdmin: what every main.cpp
// passes to run_service.
#include <memory>

#include "cryptoflow/runtime/service_host.hpp"

namespace cryptoflow::kafka {

std::unique_ptr<TopicCreator> topic_creator(const Config& config);

}  // namespace cryptoflow::kafka
