#pragma once
// Sends records the way pip-services' KafkaMessageQueue writes them: key =
// message_id, value = payload, headers message_type and correlation_id,
// timestamp = sent_time. Delivery reports decide what counts as sent.

#include <cstdint>
#include <string>

#include "kafka/kafka_client.hpp"
#include "mq/envelope.hpp"

namespace mq::kafka {

// Header names of the wire format.
inline constexpr const char* message_type_header = "message_type";
inline constexpr const char* correlation_id_header = "correlation_id";
// Written only when the record key is not the message id (send --key).
inline constexpr const char* message_id_header = "message_id";

class Producer {
 public:
  // Connects (bounded by options.connect_timeout); throws BrokerError.
  explicit Producer(const Settings& settings);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  void send(const Envelope& envelope);
  // Waits for every delivery report; throws SendFailed if any failed.
  void flush();
  std::uint64_t acknowledged() const { return delivered_; }

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque);
  void record_failure(rd_kafka_resp_err_t err);

  std::int32_t choose_partition(const Envelope& envelope, bool key_is_id);

  const Settings& settings_;
  ClientEvents events_;
  Handle handle_;
  TopicHandle topic_;
  std::int32_t partition_count_ = 0;  // 0: unknown, librdkafka's partitioner decides
  std::int32_t sticky_partition_ = 0;
  std::uint64_t sticky_left_ = 0;
  std::uint64_t handed_over_ = 0;
  std::uint64_t delivered_ = 0;
  std::uint64_t failed_ = 0;
  std::string first_failure_;
};

}  // namespace mq::kafka
