#pragma once
// The MqttMessageQueue seed's configuration keys (plus the ones a command
// line needs: client id, protocol version, TLS files), read and checked once.

#include <optional>
#include <string>
#include <vector>

#include "mq/config.hpp"

namespace mq::mqtt {

struct Endpoint {
  std::string host;
  int port = 1883;
  std::string text() const;  // "host:port", "[::1]:port"
};

struct Settings {
  std::string topic;
  std::vector<Endpoint> endpoints;  // connection.hosts, else connection.host/port
  bool tls = false;                 // connection.protocol mqtts (or ssl)
  std::optional<std::string> username, password;

  int qos = 0;
  bool retain = false;
  bool serialize_envelope = false;
  bool retry_connect = true;
  Duration connect_timeout{30000};
  Duration reconnect_timeout{1000};
  Duration keepalive{3000};

  // Set: a persistent session under this id (unless clean_session).
  std::optional<std::string> client_id;
  bool clean_session = true;
  int protocol_version = 4;  // MQTT 3.1.1; 5 on request

  std::optional<std::string> cafile, cert, key;
  bool insecure = false;

  // options.max_inflight: messages sent and not yet acknowledged at most,
  // whatever their QoS; without it, window(qos) decides.
  std::optional<std::size_t> max_inflight;
  // A broker keeps every QoS 2 message until its PUBREL: mosquitto drops a
  // 3.1.1 client with more than its max_inflight_messages (default 20)
  // awaiting one, and 3.1.1 has no way to say so (MQTT 5 brokers say it in
  // CONNACK, and the gate keeps to that). A QoS 0 or 1 message it handles
  // and forgets at once, so these get a window that never leaves the broker
  // waiting for the next one.
  std::size_t window(int qos) const { return max_inflight.value_or(qos == 2 ? 20 : 5000); }

  bool persistent_session() const { return !clean_session; }
  // "host:port" of the first endpoint, for messages.
  std::string where() const;
  // Paho server URIs: tcp://host:port or ssl://host:port.
  std::vector<std::string> server_uris() const;
};

// Throws ConfigError naming the key.
Settings read_settings(const ConfigParams& config);

// MQTT topic rules: a topic to publish to has no wildcards; a filter has '#'
// only as its last level and '+' only as a whole level.
void check_topic_name(const std::string& topic);
void check_topic_filter(const std::string& filter);

}  // namespace mq::mqtt
