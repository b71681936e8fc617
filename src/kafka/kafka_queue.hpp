#pragma once
#include <memory>

#include "mq/queue.hpp"

namespace mq {

std::unique_ptr<Queue> open_kafka_queue(const ConfigParams& config);

}  // namespace mq
