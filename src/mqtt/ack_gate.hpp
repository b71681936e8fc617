#pragma once
// The acknowledgement gate: a relay inside this process between Paho and the
// broker, which handles the messages' side of the protocol itself.
//
// Why, receiving: Paho MQTT C sends PUBACK (QoS 1) and PUBREC (QoS 2) for an
// incoming message before it calls messageArrived
// (MQTTProtocol_handlePublishes: "send puback before processing the
// publications"), and unlike Paho Java it has no manual-acknowledgement mode:
// returning 0 from messageArrived only makes Paho call it again, the broker
// already has its acknowledgement. So a message that mq took but never
// printed (stdout closed, process killed) would be gone from the session. The
// issue asks that "a message is acknowledged to the broker only after its
// line is written and flushed".
//
// Why, sending: Paho hands each message between its threads and lists
// (about 6 futex calls, a writev and several reads and polls per message):
// at QoS 1, mq used more CPU than the broker it was sending to. The gate
// writes the PUBLISH packets itself, many per write, and reads the
// acknowledgements.
//
// How: Paho dials 127.0.0.1:<gate port>; the gate dials the broker (TLS
// included, with the same CA, certificate and key settings) and relays
// Paho's packets (CONNECT, SUBSCRIBE, keep-alive, DISCONNECT) both ways; a
// ping of Paho's is answered at the broker's next packet of any kind.
// Messages never pass through Paho:
// - the broker's PUBLISH packets the gate decodes and hands to the queue;
//   the acknowledgement (PUBACK, or PUBREC for QoS 2, whose PUBREL the gate
//   then completes with PUBCOMP) goes to the broker when release() is called;
//   when the connection or the process ends first, the broker never got it
//   and redelivers the message to the session's next connection;
// - publish() queues a PUBLISH with a packet id of the gate's; it counts as
//   acknowledged at PUBACK (QoS 1), PUBCOMP (QoS 2, the gate sends PUBREL)
//   or once written to the socket (QoS 0). When the connection drops, what
//   was not acknowledged is sent again, flagged DUP with the same packet id,
//   after the broker accepts the next connection (Paho's next CONNECT).

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
  // Without one (a sender's gate) they are left unacknowledged, in the session.
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

  // Queues a message for the gate's topic (settings.topic), waiting while
  // `window` messages (or the broker's MQTT 5 receive maximum) are not yet
  // acknowledged. Returns false, queuing nothing, when the connection was
  // lost: connect Paho again, and what was queued is sent again.
  bool publish(std::string_view payload, int qos, bool retain, std::span<const Header> user_properties,
               std::size_t window);
  // Waits until everything queued is acknowledged (true) or the connection is lost (false).
  bool drain();
  struct Tally {
    std::uint64_t acknowledged = 0, refused = 0, unacknowledged = 0;
    std::string refusal;  // the broker's reason for the last refusal (MQTT 5)
  };
  Tally tally();

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace mq::mqtt
