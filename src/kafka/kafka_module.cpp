#include <librdkafka/rdkafka.h>

#include "kafka/kafka_queue.hpp"
#include "mq/backend_module.hpp"

namespace {

mq::LibraryVersion librdkafka() { return {"librdkafka", rd_kafka_version_str()}; }

}  // namespace

MQ_BACKEND_MODULE(mq::open_kafka_queue, librdkafka)
