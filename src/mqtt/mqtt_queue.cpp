#include "mqtt/mqtt_queue.hpp"

namespace mq {

// Placeholder until the mqtt backend lands.
std::unique_ptr<Queue> open_mqtt_queue(const ConfigParams&) { throw UnsupportedError("mqtt", "anything yet"); }

}  // namespace mq
