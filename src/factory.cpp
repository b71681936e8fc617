#include <fmt/format.h>

#include "kafka/kafka_queue.hpp"
#include "memory/memory_queue.hpp"
#include "mq/queue.hpp"
#include "mqtt/mqtt_queue.hpp"

namespace mq {

namespace {

struct Backend {
  const char* name;
  std::unique_ptr<Queue> (*open)(const ConfigParams&);
};

// Adding a backend: its folder under src/, and one line here.
constexpr Backend backends[] = {
    {"memory", open_memory_queue},
    {"mqtt", open_mqtt_queue},
    {"kafka", open_kafka_queue},
};

}  // namespace

std::unique_ptr<Queue> open_queue(const ConfigParams& config) {
  std::string name = config.get_string("backend", "memory");
  for (const auto& backend : backends)
    if (name == backend.name) return backend.open(config);
  throw ConfigError(fmt::format("unknown backend \"{}\" (memory, mqtt, kafka)", name));
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const auto& backend : backends) names.emplace_back(backend.name);
  return names;
}

}  // namespace mq
