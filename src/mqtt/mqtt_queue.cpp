#include "mqtt/mqtt_queue.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "mq/envelope_json.hpp"
#include "mq/narrate.hpp"
#include "mqtt/ack_gate.hpp"
#include "mqtt/mqtt_settings.hpp"
#include "mqtt/paho_client.hpp"

namespace mq {

namespace mqtt {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Beyond this many undelivered messages the receiving callback waits for the
// application (it then holds Paho's receive thread, so the socket fills and
// the broker slows down). Only reached with a slow consumer of a fast topic.
constexpr std::size_t inbox_limit = 100'000;

bool may_be_pip_envelope(std::string_view payload) {
  return payload.size() > 2 && payload.front() == '{' && payload.find("\"message_id\"") != std::string_view::npos;
}

std::string_view text_of(const MQTTLenString& s) {
  return {s.data, static_cast<std::size_t>(s.len > 0 ? s.len : 0)};
}

// What Paho handed over, in the form the gate delivers messages in.
Arrival arrival_of(std::string_view topic, const MQTTAsync_message& message, bool v5) {
  Arrival arrival;
  arrival.topic = topic;
  arrival.payload = {static_cast<const char*>(message.payload),
                     static_cast<std::size_t>(message.payloadlen > 0 ? message.payloadlen : 0)};
  arrival.qos = message.qos;
  arrival.retained = message.retained != 0;
  if (v5) {
    for (int i = 0; i < message.properties.count; ++i) {
      const MQTTProperty& property = message.properties.array[i];
      if (property.identifier == MQTTPROPERTY_CODE_USER_PROPERTY)
        arrival.user_properties.push_back(
            {std::string(text_of(property.value.data)), std::string(text_of(property.value.value))});
    }
  }
  return arrival;
}

Envelope to_envelope(const Arrival& arrival) {
  Envelope envelope;
  std::optional<Envelope> decoded;
  if (may_be_pip_envelope(arrival.payload)) decoded = try_parse_pip_envelope(arrival.payload);
  if (decoded) {
    envelope = std::move(*decoded);
  } else {
    // A raw payload, as pip's receiver reports it: the topic is the type.
    // The id is generated rather than the packet id, which repeats.
    envelope.message_id = generate_message_id();
    envelope.message_type = std::string(arrival.topic);
    envelope.sent_time = now_ms();
    envelope.payload.assign(arrival.payload);
  }
  envelope.topic = std::string(arrival.topic);
  envelope.qos = arrival.qos;
  envelope.retained = arrival.retained;
  for (const auto& header : arrival.user_properties) envelope.headers.push_back(header);
  envelope.receipt = arrival.receipt;
  return envelope;
}

// The marker: a topic nobody publishes to. The broker answers requests in
// order and sends retained and queued messages before its answer to a later
// request, so the SUBACK for this topic means "what was waiting has arrived".
// A random client id and a clean session: touches no one's session.
ClientOptions throwaway_session() {
  ClientOptions options;
  options.client_id = random_client_id();
  return options;
}

std::string marker_topic() { return "mq/settled/" + generate_message_id(); }

// Waits for the broker's acknowledgements of a known number of publishes.
class Acknowledgements {
 public:
  void expect(std::size_t count) {
    std::lock_guard lock(mutex_);
    left_ = count;
  }
  MQTTAsync_responseOptions options(bool v5) {
    MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
    options.context = this;
    if (v5) {
      options.onSuccess5 = [](void* self, MQTTAsync_successData5* data) {
        static_cast<Acknowledgements*>(self)->settle(!data || data->reasonCode < 0x80);
      };
      options.onFailure5 = [](void* self, MQTTAsync_failureData5*) { static_cast<Acknowledgements*>(self)->settle(false); };
    } else {
      options.onSuccess = [](void* self, MQTTAsync_successData*) { static_cast<Acknowledgements*>(self)->settle(true); };
      options.onFailure = [](void* self, MQTTAsync_failureData*) { static_cast<Acknowledgements*>(self)->settle(false); };
    }
    return options;
  }
  void settle(bool ok) {
    std::lock_guard lock(mutex_);
    if (left_) --left_;
    if (!ok) ++failed_;
    changed_.notify_all();
  }
  bool wait(Duration timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return left_ == 0; });
  }
  std::size_t failed() {
    std::lock_guard lock(mutex_);
    return failed_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t left_ = 0;
  std::size_t failed_ = 0;
};

class MqttQueue final : public Queue {
 public:
  explicit MqttQueue(Settings settings) : settings_(std::move(settings)) {
    capabilities_.message_count = false;
    capabilities_.peek = true;
    capabilities_.peek_batch = true;
    capabilities_.clear = true;
    capabilities_.abandon = true;
  }

  ~MqttQueue() override {
    {
      std::lock_guard lock(receive_mutex_);
      closing_ = true;
    }
    inbox_changed_.notify_all();
    subscriber_.reset();
    gate_.reset();
    publisher_.reset();
    send_gate_.reset();
  }

  std::string backend() const override { return "mqtt"; }
  const Capabilities& capabilities() const override { return capabilities_; }

  // ---- sending -------------------------------------------------------------

  void send(Envelope envelope) override {
    ensure_publisher();
    Outgoing out = make_outgoing(std::move(envelope));
    while (!send_gate_->publish(out.payload, out.qos, out.retain, out.headers, settings_.window(out.qos)))
      recover_publisher();
  }

  void flush() override {
    if (!publisher_) return;
    while (!send_gate_->drain()) recover_publisher();
    auto tally = send_gate_->tally();
    if (tally.refused > 0)
      throw SendFailed(fmt::format("{} of {} messages refused by the broker: {}", tally.refused,
                                   tally.acknowledged + tally.refused, tally.refusal),
                       tally.acknowledged);
  }

  std::uint64_t acknowledged() const override { return send_gate_ ? send_gate_->tally().acknowledged : 0; }

  // ---- receiving -----------------------------------------------------------

  std::vector<Envelope> receive(const ReceiveOptions& options) override {
    ensure_subscribed();
    std::unique_lock lock(receive_mutex_);
    auto deadline = options.wait ? SteadyClock::now() + *options.wait : SteadyClock::time_point::max();
    while (inbox_.empty()) {
      check_subscriber(lock);
      auto step = std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(200));
      inbox_changed_.wait_until(lock, step);
      if (inbox_.empty() && SteadyClock::now() >= deadline) return {};
    }
    std::vector<Envelope> taken;
    std::size_t count = std::min(std::max<std::size_t>(options.max, 1), inbox_.size());
    taken.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      taken.push_back(std::move(inbox_.front()));
      inbox_.pop_front();
    }
    lock.unlock();
    inbox_changed_.notify_all();  // room for a waiting callback
    return taken;
  }

  void complete(std::span<const Envelope> messages) override {
    if (!gate_) return;  // nothing is held back: QoS 0 or a clean session
    std::vector<std::uint64_t> receipts;
    for (const auto& message : messages)
      if (message.receipt) receipts.push_back(message.receipt);
    gate_->release(receipts);
  }

  // Within this process the message goes back to the front of the queue; its
  // acknowledgement stays held, so when the process ends first the broker
  // redelivers it to the next connection of the same persistent session.
  void abandon(std::span<const Envelope> messages) override {
    {
      std::lock_guard lock(receive_mutex_);
      for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
        Envelope again = *it;
        again.delivery_count = again.delivery_count.value_or(1) + 1;
        inbox_.push_front(std::move(again));
      }
    }
    inbox_changed_.notify_all();
  }

  std::vector<Envelope> peek(std::size_t max) override {
    auto retained = read_retained();
    if (retained.size() > max) retained.resize(max);
    return retained;
  }

  // Clearing a topic in MQTT is replacing its retained message with an empty one.
  std::optional<std::uint64_t> clear() override {
    check_topic_filter(settings_.topic);
    Acknowledgements pending;  // outlives the client, whose destruction may still call back
    PahoClient client(settings_, throwaway_session());
    auto retained = read_retained_with(client);
    std::set<std::string> unique_topics;
    for (const auto& message : retained) unique_topics.insert(*message.topic);
    std::vector<std::string> topics(unique_topics.begin(), unique_topics.end());
    // In rounds that Paho takes whole: beyond its in-flight limit it refuses.
    for (std::size_t first = 0; first < topics.size(); first += PahoClient::max_inflight) {
      auto round_end = std::min(topics.size(), first + PahoClient::max_inflight);
      pending.expect(round_end - first);
      for (std::size_t i = first; i < round_end; ++i) {
        MQTTAsync_message message = MQTTAsync_message_initializer;
        message.qos = 1;
        message.retained = 1;
        MQTTAsync_responseOptions options = pending.options(settings_.protocol_version == 5);
        if (MQTTAsync_sendMessage(client.handle(), topics[i].c_str(), &message, &options) != MQTTASYNC_SUCCESS)
          pending.settle(false);
      }
      if (!pending.wait(settings_.connect_timeout))
        throw BrokerError(
            fmt::format("{} did not acknowledge within {} ms", settings_.where(), settings_.connect_timeout.count()),
            true);
    }
    if (pending.failed())
      throw BrokerError(
          fmt::format("the broker refused to clear {} of {} retained messages", pending.failed(), topics.size()));
    return topics.size();
  }

 private:
  struct Outgoing {
    std::string payload;
    int qos = 0;
    bool retain = false;
    std::vector<Header> headers;
  };

  Outgoing make_outgoing(Envelope envelope) {
    Outgoing out;
    out.qos = envelope.qos.value_or(settings_.qos);
    if (out.qos < 0 || out.qos > 2) throw UsageError(fmt::format("qos {} is not 0, 1 or 2", out.qos));
    out.retain = envelope.retained.value_or(settings_.retain);
    if (settings_.protocol_version == 5) out.headers = std::move(envelope.headers);
    if (settings_.serialize_envelope) {
      stamp(envelope);
      out.payload = serialize_pip_envelope(envelope);
    } else {
      out.payload = std::move(envelope.payload);
    }
    return out;
  }

  // Messages go out through a gate of their own, which writes them and reads
  // the acknowledgements itself; Paho connects and keeps the connection alive.
  void ensure_publisher() {
    if (publisher_) return;
    check_topic_name(settings_.topic);
    send_gate_ = std::make_unique<AckGate>(settings_, nullptr);
    ClientOptions options = throwaway_session();
    options.client_id = settings_.client_id.value_or(options.client_id);
    options.clean_session = settings_.clean_session;
    options.server_uris = {send_gate_->uri()};
    options.use_tls = false;
    narrate("mqtt: messages go out through a relay at {}, which writes them and counts the acknowledgements",
            send_gate_->uri());
    auto client = std::make_unique<PahoClient>(settings_, options);
    connect_through(*client, *send_gate_);
    publisher_ = std::move(client);
  }

  // Paho's errors when it dials a gate name the gate; the gate knows why the
  // broker could not be reached.
  void connect_through(PahoClient& client, AckGate& gate) {
    try {
      client.connect(settings_.connect_timeout);
    } catch (const BrokerError& error) {
      if (!gate.upstream_error().empty())
        throw BrokerError(fmt::format("cannot connect to {}: {}", settings_.where(), gate.upstream_error()));
      throw;
    }
  }

  // The connection dropped: with retry_connect, dial again every
  // reconnect_timeout for up to connect_timeout; the gate then sends again
  // what the broker had not acknowledged.
  void recover_publisher() {
    auto lost_at = SteadyClock::now();
    std::string why = fmt::format("connection to {} lost", settings_.where());
    if (settings_.retry_connect) {
      // The gate closed Paho's side; Paho must see that before it dials again.
      for (int i = 0; i < 200 && publisher_->is_connected(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (publisher_->is_connected()) publisher_->disconnect(Duration{100});
      auto deadline = lost_at + settings_.connect_timeout;
      for (int attempt = 0;; ++attempt) {
        auto now = SteadyClock::now();
        if (attempt > 0) {
          if (now >= deadline) break;
          std::this_thread::sleep_for(std::min<SteadyClock::duration>(settings_.reconnect_timeout, deadline - now));
          now = SteadyClock::now();
        }
        auto left = std::chrono::duration_cast<Duration>(deadline - now);
        try {
          publisher_->connect(std::max(left, Duration{1000}));
          narrate("mqtt: reconnected to {}; sending again what was not acknowledged", settings_.where());
          return;
        } catch (const BrokerError& error) {
          std::string reason = send_gate_->upstream_error().empty() ? error.what() : send_gate_->upstream_error();
          why = fmt::format("connection to {} lost; reconnecting failed: {}", settings_.where(), reason);
        }
        if (SteadyClock::now() >= deadline) break;
      }
    }
    publisher_.reset();
    auto tally = send_gate_->tally();
    throw SendFailed(fmt::format("{} ({} acknowledged, {} not)", why, tally.acknowledged,
                                 tally.unacknowledged + tally.refused),
                     tally.acknowledged);
  }

  // ---- receiving internals -------------------------------------------------

  void ensure_subscribed() {
    if (subscriber_) return;
    check_topic_filter(settings_.topic);
    // Paho acknowledges a message before handing it over, so a persistent
    // session that must keep what was not printed goes through the gate,
    // which takes the messages itself and acknowledges them on complete().
    bool hold_acks = settings_.persistent_session() && settings_.qos > 0;
    ClientOptions options = throwaway_session();
    options.client_id = settings_.client_id.value_or(options.client_id);
    options.clean_session = settings_.clean_session;
    options.automatic_reconnect = settings_.retry_connect;
    if (hold_acks) {
      gate_ = std::make_unique<AckGate>(settings_, [this](const Arrival& arrival) { take(to_envelope(arrival), false); });
      narrate("mqtt: persistent session at QoS {}: acknowledgements wait for the output, through a relay at {}",
              settings_.qos, gate_->uri());
      options.server_uris = {gate_->uri()};
      options.use_tls = false;
    }
    auto client = std::make_unique<PahoClient>(settings_, options);
    client->on_message([this](std::string_view topic, MQTTAsync_message& message) {
      take(to_envelope(arrival_of(topic, message, settings_.protocol_version == 5)), true);
    });
    client->on_connection_lost([this] {
      {
        std::lock_guard lock(receive_mutex_);
        subscriber_connected_ = false;
        subscriber_lost_since_ = SteadyClock::now();
      }
      inbox_changed_.notify_all();
    });
    client->on_connected([this] {
      std::lock_guard lock(receive_mutex_);
      subscriber_connected_ = true;
      // A reconnect with a clean session starts without subscriptions.
      if (subscribed_ && subscriber_raw_) subscriber_raw_->subscribe_async(settings_.topic, settings_.qos);
    });
    subscriber_raw_ = client.get();
    try {
      if (gate_) connect_through(*client, *gate_);
      else client->connect(settings_.connect_timeout);
      client->subscribe(settings_.topic, settings_.qos, settings_.connect_timeout);
      auto marker = marker_topic();
      client->subscribe(marker, 0, settings_.connect_timeout);
      MQTTAsync_responseOptions ignore = MQTTAsync_responseOptions_initializer;
      MQTTAsync_unsubscribe(client->handle(), marker.c_str(), &ignore);
    } catch (const BrokerError&) {
      subscriber_raw_ = nullptr;
      throw;
    }
    {
      std::lock_guard lock(receive_mutex_);
      subscribed_ = true;
    }
    subscriber_ = std::move(client);
  }

  // Through the gate, the broker's window of unacknowledged messages bounds
  // the inbox; from Paho, a full inbox holds Paho's receive thread.
  void take(Envelope envelope, bool wait_for_room) {
    std::unique_lock lock(receive_mutex_);
    if (wait_for_room) inbox_changed_.wait(lock, [&] { return inbox_.size() < inbox_limit || closing_; });
    inbox_.push_back(std::move(envelope));
    lock.unlock();
    inbox_changed_.notify_all();
  }

  // Throws when the connection is gone for good. Called with the lock held.
  void check_subscriber(std::unique_lock<std::mutex>&) {
    if (subscriber_connected_) return;
    auto down_for = SteadyClock::now() - subscriber_lost_since_;
    if (!settings_.retry_connect || down_for >= settings_.connect_timeout) {
      std::string why = gate_ ? gate_->upstream_error() : std::string();
      throw BrokerError(fmt::format("connection to {} lost{}{}", settings_.where(),
                                    settings_.retry_connect ? "; reconnecting failed" : "",
                                    why.empty() ? "" : ": " + why));
    }
  }

  std::vector<Envelope> read_retained() {
    check_topic_filter(settings_.topic);
    PahoClient client(settings_, throwaway_session());
    return read_retained_with(client);
  }

  // The retained messages under the filter, read by a connection of its own
  // with a clean session, so no session is touched.
  std::vector<Envelope> read_retained_with(PahoClient& client) {
    std::mutex mutex;
    std::vector<Envelope> retained;
    bool v5 = settings_.protocol_version == 5;
    client.on_message([&](std::string_view topic, MQTTAsync_message& message) {
      if (!message.retained) return;  // published meanwhile, not retained
      auto envelope = to_envelope(arrival_of(topic, message, v5));
      std::lock_guard lock(mutex);
      retained.push_back(std::move(envelope));
    });
    client.connect(settings_.connect_timeout);
    // QoS 0: the broker writes them all at once, ahead of the marker's SUBACK.
    client.subscribe(settings_.topic, 0, settings_.connect_timeout);
    client.subscribe(marker_topic(), 0, settings_.connect_timeout);
    std::lock_guard lock(mutex);
    auto result = std::move(retained);
    retained.clear();
    client.on_message(nullptr);
    return result;
  }

  Settings settings_;
  Capabilities capabilities_;

  // Sending.
  std::unique_ptr<AckGate> send_gate_;
  std::unique_ptr<PahoClient> publisher_;

  // Receiving.
  std::unique_ptr<AckGate> gate_;
  std::unique_ptr<PahoClient> subscriber_;
  PahoClient* subscriber_raw_ = nullptr;  // for callbacks during connect
  std::mutex receive_mutex_;
  std::condition_variable inbox_changed_;
  std::deque<Envelope> inbox_;
  bool subscribed_ = false;
  bool subscriber_connected_ = true;
  SteadyClock::time_point subscriber_lost_since_{};
  bool closing_ = false;
};

}  // namespace

}  // namespace mqtt

std::unique_ptr<Queue> open_mqtt_queue(const ConfigParams& config) {
  return std::make_unique<mqtt::MqttQueue>(mqtt::read_settings(config));
}

}  // namespace mq
