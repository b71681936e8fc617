#pragma once
// One Paho MQTT C asynchronous client (MQTTAsync) with blocking helpers for
// the few operations a command waits on: connect, subscribe, disconnect.
// Paho's callbacks run on its own threads; everything here is safe to call
// from the application thread, never from inside a Paho callback.

#include <MQTTAsync.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mqtt/mqtt_settings.hpp"

namespace mq::mqtt {

struct ClientOptions {
  std::string client_id;
  bool clean_session = true;
  // Servers to dial instead of the settings' endpoints (the ack gate).
  std::vector<std::string> server_uris;
  bool use_tls = true;  // false when dialing the gate, which does TLS itself
  bool automatic_reconnect = false;
};

class PahoClient {
 public:
  // Called on Paho's receive thread; the message and topic are freed after it returns.
  using MessageHandler = std::function<void(std::string_view topic, MQTTAsync_message& message)>;
  using EventHandler = std::function<void()>;

  // The publishes Paho has unacknowledged at most; it refuses more
  // (MQTTASYNC_MAX_MESSAGES_INFLIGHT). Sends go through the gate, not Paho.
  static constexpr int max_inflight = 64;

  PahoClient(const Settings& settings, ClientOptions options);
  ~PahoClient();  // disconnects (briefly) and destroys the client
  PahoClient(const PahoClient&) = delete;
  PahoClient& operator=(const PahoClient&) = delete;

  // Set before connect().
  void on_message(MessageHandler handler) { message_handler_ = std::move(handler); }
  void on_connection_lost(EventHandler handler) { lost_handler_ = std::move(handler); }
  void on_connected(EventHandler handler) { connected_handler_ = std::move(handler); }

  // Blocks until the broker accepted the connection (returns its
  // session-present flag) or throws BrokerError with a message for people.
  bool connect(Duration timeout);
  // Blocks until SUBACK; throws BrokerError when refused or not answered.
  void subscribe(const std::string& filter, int qos, Duration timeout);
  // Asks for a subscription without waiting (from a Paho callback).
  void subscribe_async(const std::string& filter, int qos);
  void disconnect(Duration timeout);

  bool is_connected() { return MQTTAsync_isConnected(handle_) != 0; }
  MQTTAsync handle() const { return handle_; }
  int version() const { return settings_.protocol_version; }
  const Settings& settings() const { return settings_; }
  const std::string& client_id() const { return options_.client_id; }

  // Why the last connection attempt failed, for errors ("connection refused:
  // not authorized", "cannot connect to localhost:1883: Connection refused").
  std::string describe_failure(int code, const char* message, int reason_code) const;

 private:
  static int message_arrived(void* context, char* topic, int topic_length, MQTTAsync_message* message);
  static void connection_lost(void* context, char* cause);
  static void connected(void* context, char* cause);
  static int tls_error(const char* text, std::size_t length, void* context);

  const Settings& settings_;
  ClientOptions options_;
  MQTTAsync handle_ = nullptr;
  MessageHandler message_handler_;
  EventHandler lost_handler_, connected_handler_;
  std::vector<std::string> uri_storage_;
  std::vector<char*> uri_pointers_;
  std::vector<std::shared_ptr<void>> requests_;  // contexts of Paho requests, kept until MQTTAsync_destroy
  std::mutex tls_mutex_;
  std::string tls_errors_;
};

// A client id for connections that must not touch any session.
std::string random_client_id();

}  // namespace mq::mqtt
