#include "kafka/kafka_producer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "mq/error.hpp"
#include "mq/queue.hpp"

namespace mq::kafka {

Producer::Producer(const Settings& settings) : settings_(settings) {
  Conf conf = make_conf(settings, Role::producer, &events_);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
  handle_ = make_handle(std::move(conf), Role::producer);
  topic_.reset(rd_kafka_topic_new(handle_.get(), settings.topic.c_str(), nullptr));
  if (!topic_) throw ConfigError(fmt::format("topic \"{}\": {}", settings.topic, error_text(rd_kafka_last_error())));
  // Asking for the topic's metadata proves a broker answers, and lets a
  // cluster that creates topics on first use create it.
  auto partitions = fetch_partitions(handle_.get(), topic_.get(), settings, events_);
  if (!partitions)
    throw BrokerError(fmt::format("topic \"{}\" does not exist on the Kafka cluster at {} (and is not created on use)",
                                  settings.topic, settings.bootstrap));
  partition_count_ = static_cast<std::int32_t>(partitions->size());
  sticky_partition_ = static_cast<std::int32_t>(std::random_device{}() % std::max(partition_count_, 1));
}

// A key that is a fresh message id says nothing about where the record
// belongs, and hashing it spreads even a short run of messages over all
// partitions. Like Kafka's sticky partitioner, fill one partition's batch at a
// time instead: fewer, fuller requests, and `mq send a b c` stays in order.
std::int32_t Producer::choose_partition(const Envelope& envelope, bool key_is_id) {
  if (envelope.partition) return *envelope.partition;
  if (!key_is_id || partition_count_ <= 0) return RD_KAFKA_PARTITION_UA;
  if (sticky_left_ == 0) {
    // As many records as make one full batch (librdkafka's batch.size of 1 MB
    // and batch.num.messages of 10000), judged by this one.
    std::size_t record = envelope.payload.size() + envelope.message_id.size() + 24;
    for (const auto& header : envelope.headers) record += header.name.size() + header.value.size() + 4;
    sticky_partition_ = (sticky_partition_ + 1) % partition_count_;
    sticky_left_ = std::clamp<std::uint64_t>(1'000'000 / record, 1, 10000);
  }
  --sticky_left_;
  return sticky_partition_;
}

Producer::~Producer() {
  // send() without flush(): still give the messages their chance.
  if (handle_ && rd_kafka_outq_len(handle_.get()) > 0)
    rd_kafka_flush(handle_.get(), static_cast<int>(settings_.request_timeout.count()));
}

void Producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
  auto* self = static_cast<Producer*>(message->_private);
  if (message->err)
    self->record_failure(message->err);
  else
    ++self->delivered_;
}

void Producer::record_failure(rd_kafka_resp_err_t err) {
  if (failed_++ == 0) first_failure_ = error_text(err);
}

void Producer::send(const Envelope& envelope) {
  const std::string& key = envelope.key ? *envelope.key : envelope.message_id;
  bool key_is_id = !envelope.key || *envelope.key == envelope.message_id;
  rd_kafka_vu_t values[8];
  std::size_t count = 0;
  auto add = [&](rd_kafka_vtype_t type) -> rd_kafka_vu_t& {
    values[count].vtype = type;
    return values[count++];
  };
  add(RD_KAFKA_VTYPE_RKT).u.rkt = topic_.get();
  add(RD_KAFKA_VTYPE_PARTITION).u.i32 = choose_partition(envelope, key_is_id);
  add(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;
  add(RD_KAFKA_VTYPE_OPAQUE).u.ptr = this;
  auto& value = add(RD_KAFKA_VTYPE_VALUE);
  value.u.mem.ptr = const_cast<char*>(envelope.payload.data());
  value.u.mem.size = envelope.payload.size();
  auto& key_value = add(RD_KAFKA_VTYPE_KEY);
  key_value.u.mem.ptr = const_cast<char*>(key.data());
  key_value.u.mem.size = key.size();
  add(RD_KAFKA_VTYPE_TIMESTAMP).u.i64 = envelope.sent_time.time_since_epoch().count();

  rd_kafka_headers_t* headers = nullptr;
  std::size_t header_count = envelope.headers.size() + (envelope.message_type ? 1 : 0) +
                             (envelope.correlation_id ? 1 : 0) + (key_is_id ? 0 : 1);
  if (header_count) {
    headers = rd_kafka_headers_new(header_count);
    auto put = [&](const std::string& name, const std::string& text) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), text.data(),
                          static_cast<ssize_t>(text.size()));
    };
    if (envelope.message_type) put(message_type_header, *envelope.message_type);
    if (envelope.correlation_id) put(correlation_id_header, *envelope.correlation_id);
    if (!key_is_id) put(message_id_header, envelope.message_id);
    for (const auto& header : envelope.headers) put(header.name, header.value);
    add(RD_KAFKA_VTYPE_HEADERS).u.headers = headers;
  }

  while (true) {
    rd_kafka_error_t* error = rd_kafka_produceva(handle_.get(), values, count);
    if (!error) break;
    auto code = rd_kafka_error_code(error);
    std::string text = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // The in-flight window is full: wait for delivery reports to make room.
      rd_kafka_poll(handle_.get(), 10);
      continue;
    }
    if (headers) rd_kafka_headers_destroy(headers);
    if (code == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
      throw BrokerError(fmt::format("topic \"{}\" has no partition {}", settings_.topic,
                                    envelope.partition.value_or(RD_KAFKA_PARTITION_UA)));
    if (code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
      throw BrokerError(
          fmt::format("message of {} bytes is larger than the producer allows ({}; see "
                      "kafka.message.max.bytes)",
                      envelope.payload.size(), text));
    throw BrokerError(fmt::format("cannot send to topic \"{}\": {}", settings_.topic, text));
  }
  // Serve delivery reports now and then so that acknowledged() moves.
  if (++handed_over_ % 1024 == 0) rd_kafka_poll(handle_.get(), 0);
}

void Producer::flush() {
  while (rd_kafka_outq_len(handle_.get()) > 0) rd_kafka_flush(handle_.get(), 100);
  rd_kafka_poll(handle_.get(), 0);
  if (failed_) {
    throw SendFailed(
        fmt::format("{} of {} messages were not delivered: {}", failed_, delivered_ + failed_, first_failure_),
        delivered_);
  }
}

}  // namespace mq::kafka
