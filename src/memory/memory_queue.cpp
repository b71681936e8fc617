#include "memory/memory_queue.hpp"

namespace mq {

std::unique_ptr<Queue> open_memory_queue(const ConfigParams&) { throw UnsupportedError("memory", "anything yet"); }

}  // namespace mq
