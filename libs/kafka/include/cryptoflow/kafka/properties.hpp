#pragma once
// librdkafka properties, in the order set (later settings win), and how they come from the
// environment.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cryptoflow/runtime/config.hpp"

namespace cryptoflow::kafka {

class Properties {
 public:
  Properties& set(std::string key, std::string value);
  [[nodiscard]] std::optional<std::string> get(const std::string& key) const;
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

  // bootstrap.servers from KAFKA_BOOTSTRAP_SERVERS and every other KAFKA_<NAME> as <name> with
  // '_' -> '.', lower case (KAFKA_SECURITY_PROTOCOL -> security.protocol). Validated: a property
  // librdkafka refuses is a ConfigError naming its variable, before anything connects.
  static Properties from_config(const Config& config);

  // Throws ConfigError naming the KAFKA_ variable if librdkafka refuses a property.
  void validate() const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// The librdkafka this binary runs with: 0xMMmmrrxx (2.0.2 is 0x020002ff), and as text.
int librdkafka_version();
std::string librdkafka_version_string();

// The KAFKA_<NAME> variable of a librdkafka property (security.protocol -> KAFKA_SECURITY_PROTOCOL).
std::string env_name_for(const std::string& property);

// Whether KAFKA_<NAME>=value is a variable Kubernetes injects for a Service named kafka or
// kafka-*, not a librdkafka property (from_config skips those, with a log line).
bool is_service_link(const std::string& name, const std::string& value);

}  // namespace cryptoflow::kafka
