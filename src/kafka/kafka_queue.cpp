#include "kafka/kafka_queue.hpp"

namespace mq {

// Placeholder until the kafka backend lands.
std::unique_ptr<Queue> open_kafka_queue(const ConfigParams&) { throw UnsupportedError("kafka", "anything yet"); }

}  // namespace mq
