#pragma once
// The acknowledgement gate: a relay inside this process between Paho and the
// broker, for a receiver with a persistent session.
//
// Why: Paho MQTT C sends PUBACK (QoS 1) and PUBREC (QoS 2) for an incoming
// message before it calls messageArrived (MQTTProtocol_handlePublishes: "send
// puback before processing the publications"), and unlike Paho Java it has no
// manual-acknowledgement mode: returning 0 from messageArrived only makes Paho
// call it again, the broker already has its acknowledgement. So a message
// that mq took but never printed (stdout closed, process killed) would be
// gone from the session. The issue asks that "a message is acknowledged to
// the broker only after its line is written and flushed".
//
// How: Paho dials 127.0.0.1:<gate port>; the gate dials the broker (TLS
// included, with the same CA, certificate and key settings) and relays bytes,
// reading MQTT's framing only: a PUBACK from Paho is held until complete()
// releases it; when the connection or the process ends first, the broker
// never got it and redelivers the message to the session's next connection.
// QoS 2 is passed to Paho as QoS 1 (Paho would otherwise deliver only after
// the exchange is over); on release the gate answers the broker with PUBREC
// and completes its PUBREL with PUBCOMP itself.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "mqtt/mqtt_settings.hpp"

namespace mq::mqtt {

class AckGate {
 public:
  explicit AckGate(const Settings& settings);  // listens and starts its thread
  ~AckGate();
  AckGate(const AckGate&) = delete;
  AckGate& operator=(const AckGate&) = delete;

  // tcp://127.0.0.1:PORT, for Paho.
  std::string uri() const;
  // Which relayed connection is current (counts from 1); read it when Paho
  // reports a connection, tag the messages of that connection with it.
  std::uint64_t connection();
  static std::uint64_t receipt(std::uint64_t connection, int packet_id) {
    return connection << 16 | static_cast<std::uint64_t>(packet_id & 0xFFFF);
  }
  // Whether the broker sent that message at QoS 2.
  bool was_qos2(std::uint64_t connection, int packet_id);
  // Lets the held acknowledgements of these receipts through (those of a
  // connection that is gone are dropped: the broker redelivers them).
  void release(std::span<const std::uint64_t> receipts);
  // Why the last dial to the broker failed, empty when it did not.
  std::string upstream_error();

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace mq::mqtt
