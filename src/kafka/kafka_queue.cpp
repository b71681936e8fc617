#include "kafka/kafka_queue.hpp"

#include <memory>

#include "kafka/kafka_client.hpp"
#include "kafka/kafka_consumer.hpp"
#include "kafka/kafka_producer.hpp"

namespace mq {

namespace {

// A Kafka topic read through a consumer group. The producer and the readers
// are made on first use, so a command pays only for what it does.
class KafkaQueue final : public Queue {
 public:
  explicit KafkaQueue(kafka::Settings settings) : settings_(std::move(settings)) {
    capabilities_.message_count = true;
    capabilities_.peek = true;
    capabilities_.peek_batch = true;
    capabilities_.clear = true;
    // Within this process: the partition is rewound to the message.
    capabilities_.abandon = true;
  }

  ~KafkaQueue() override {
    // The reader commits what was completed; the producer flushes first so
    // that a send and a receive in one process see each other.
    producer_.reset();
    reader_.reset();
  }

  std::string backend() const override { return "kafka"; }
  const Capabilities& capabilities() const override { return capabilities_; }

  void send(Envelope envelope) override { producer().send(envelope); }
  void flush() override {
    if (producer_) producer_->flush();
  }
  std::uint64_t acknowledged() const override { return producer_ ? producer_->acknowledged() : 0; }

  std::vector<Envelope> receive(const ReceiveOptions& options) override { return reader().receive(options); }
  void complete(std::span<const Envelope> messages) override {
    if (reader_) reader_->complete(messages);
  }
  void abandon(std::span<const Envelope> messages) override {
    if (reader_) reader_->abandon(messages);
  }

  std::vector<Envelope> peek(std::size_t max) override {
    kafka::Consumer peeker(settings_, false);
    std::vector<Envelope> all;
    while (all.size() < max) {
      auto batch = peeker.receive(ReceiveOptions{max - all.size(), Duration{0}, std::nullopt});
      if (batch.empty()) break;
      all.insert(all.end(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
    }
    return all;
  }
  std::uint64_t message_count() override { return reader().lag(); }
  std::optional<std::uint64_t> clear() override { return reader().clear(); }

  void begin_listen() override { reader().begin_listen(); }
  void end_listen() override {
    if (reader_) reader_->end_listen();
  }
  std::size_t default_concurrency() const override { return static_cast<std::size_t>(settings_.read_partitions); }

 private:
  kafka::Producer& producer() {
    if (!producer_) producer_ = std::make_unique<kafka::Producer>(settings_);
    return *producer_;
  }
  kafka::Consumer& reader() {
    if (!reader_) reader_ = std::make_unique<kafka::Consumer>(settings_, true);
    return *reader_;
  }

  kafka::Settings settings_;
  Capabilities capabilities_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<kafka::Consumer> reader_;
};

}  // namespace

std::unique_ptr<Queue> open_kafka_queue(const ConfigParams& config) {
  return std::make_unique<KafkaQueue>(kafka::read_settings(config));
}

}  // namespace mq
