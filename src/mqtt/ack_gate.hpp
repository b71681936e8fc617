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
// included, with the same CA, certificate and key settings) and relays bytes.
// What Paho sends passes unchanged. What the broker sends is split into MQTT
// packets: PUBLISH packets the gate decodes and hands to the queue itself,
// and Paho never sees them; the rest goes on to Paho.
// Paho keeps the rest of the protocol (CONNECT, SUBSCRIBE, keep-alive). The
// acknowledgement (PUBACK, or PUBREC for QoS 2, whose PUBREL the gate then
// completes with PUBCOMP) goes to the broker when release() is called; when
// the connection or the process ends first, the broker never got it and
// redelivers the message to the session's next connection. Not passing the
// messages through Paho also saves its per-message work: it reads a packet's
// header a byte at a time and would answer each one with a PUBACK of its own.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mq/envelope.hpp"
#include "mqtt/mqtt_settings.hpp"

namespace mq::mqtt {

// A message as the broker sent it; the views live as long as the call.
struct Arrival {
  std::string_view topic, payload;
  int qos = 0;
  bool retained = false;
  std::vector<Header> user_properties;  // MQTT 5
  std::uint64_t receipt = 0;            // for release(); 0 at QoS 0
};

class AckGate {
 public:
  // Called on the gate's thread for each PUBLISH from the broker, in order.
  using ArrivalHandler = std::function<void(const Arrival&)>;

  AckGate(const Settings& settings, ArrivalHandler handler);  // listens and starts its thread
  ~AckGate();
  AckGate(const AckGate&) = delete;
  AckGate& operator=(const AckGate&) = delete;

  // tcp://127.0.0.1:PORT, for Paho.
  std::string uri() const;
  // Acknowledges these messages to the broker (those of a connection that is
  // gone are dropped: the broker redelivers them).
  void release(std::span<const std::uint64_t> receipts);
  // Why the last dial to the broker failed, empty when it did not.
  std::string upstream_error();

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace mq::mqtt
