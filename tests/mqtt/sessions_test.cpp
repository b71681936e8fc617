// Persistent sessions: MQTT as a queue. A receiver with a client id keeps its
// subscription while away, and what it took but did not complete is
// redelivered to its next connection.

#include "mqtt_helpers.hpp"

using namespace mqtest;

namespace {

mq::ConfigParams session(const Mosquitto& broker, const std::string& topic, const std::string& client_id, int qos = 1) {
  auto config = broker.config(topic);
  config.set("options.client_id", client_id);
  config.set("options.qos", std::to_string(qos));
  return config;
}

void publish_numbered(const Mosquitto& broker, const std::string& topic, int count, int qos = 1) {
  std::string lines;
  for (int i = 1; i <= count; ++i) lines += "m" + std::to_string(i) + "\n";
  REQUIRE(mosquitto_pub(broker, {"-t", topic, "-q", std::to_string(qos), "-l"}, lines).exit_code == 0);
}

std::vector<std::string> numbered(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back("m" + std::to_string(i));
  return out;
}

}  // namespace

TEST_CASE("messages published while no receiver ran are delivered by the next receive of the session") {
  Mosquitto broker;
  auto topic = unique_topic("session");
  auto id = "rx-" + mq::generate_message_id().substr(0, 8);
  {
    auto first = open(session(broker, topic, id));
    CHECK(first->receive({.max = 1, .wait = 0ms, .lock = std::nullopt}).empty());  // creates the session
  }
  publish_numbered(broker, topic, 3);
  auto second = open(session(broker, topic, id));
  // Queued messages are at hand as soon as the subscription is confirmed.
  auto at_hand = second->receive({.max = 10, .wait = 0ms, .lock = std::nullopt});
  CHECK(payloads(at_hand) == numbered(1, 3));
  second->complete(at_hand);
}

TEST_CASE("taken but not completed: the rest of the session's messages wait for the next receive") {
  Mosquitto broker;
  auto topic = unique_topic("head");
  auto id = "rx-" + mq::generate_message_id().substr(0, 8);
  open(session(broker, topic, id))->receive({.max = 1, .wait = 0ms, .lock = std::nullopt});
  publish_numbered(broker, topic, 10);
  {
    // Like `mq receive -n 10 | head -1`: everything may arrive, only the first is printed.
    auto queue = open(session(broker, topic, id));
    auto batch = queue->receive({.max = 10, .wait = 2s, .lock = std::nullopt});
    REQUIRE(!batch.empty());
    CHECK(batch[0].payload == "m1");
    queue->complete(std::span(batch).first(1));
  }
  auto next = open(session(broker, topic, id));
  auto rest = drain(*next, 20, 1500ms);
  CHECK(payloads(rest) == numbered(2, 10));
  // Completed this time: nothing is left.
  next.reset();
  auto last = open(session(broker, topic, id));
  CHECK(last->receive({.max = 10, .wait = 500ms, .lock = std::nullopt}).empty());
}

TEST_CASE("a session's QoS 2 messages keep qos 2 and are redelivered when not completed") {
  Mosquitto broker;
  auto topic = unique_topic("qos2");
  auto id = "rx-" + mq::generate_message_id().substr(0, 8);
  open(session(broker, topic, id, 2))->receive({.max = 1, .wait = 0ms, .lock = std::nullopt});
  publish_numbered(broker, topic, 3, 2);
  {
    auto queue = open(session(broker, topic, id, 2));
    auto got = queue->receive({.max = 3, .wait = 2s, .lock = std::nullopt});
    REQUIRE(!got.empty());
    CHECK(got[0].qos == 2);
  }
  auto queue = open(session(broker, topic, id, 2));
  auto got = drain(*queue, 3, 1500ms);
  CHECK(payloads(got) == numbered(1, 3));
  for (const auto& e : got) CHECK(e.qos == 2);
  queue.reset();
  auto left = payloads(open(session(broker, topic, id, 2))->receive({.max = 3, .wait = 500ms, .lock = std::nullopt}));
  INFO(broker.log());
  CHECK(left == std::vector<std::string>{});
}

TEST_CASE("abandon gives a message back within the process, completed ones are gone") {
  Mosquitto broker;
  auto topic = unique_topic("abandon");
  auto id = "rx-" + mq::generate_message_id().substr(0, 8);
  auto queue = open(session(broker, topic, id));
  queue->receive({.max = 1, .wait = 0ms, .lock = std::nullopt});
  publish_numbered(broker, topic, 2);
  auto first = queue->receive({.max = 1, .wait = 2s, .lock = std::nullopt});
  REQUIRE(payloads(first) == numbered(1, 1));
  queue->abandon(first);
  auto again = queue->receive({.max = 1, .wait = 2s, .lock = std::nullopt});
  REQUIRE(payloads(again) == numbered(1, 1));
  CHECK(again[0].delivery_count == 2);
  queue->complete(again);
  auto second = drain(*queue, 1);
  CHECK(payloads(second) == numbered(2, 2));
  queue.reset();
  CHECK(open(session(broker, topic, id))->receive({.max = 3, .wait = 500ms, .lock = std::nullopt}).empty());
}

TEST_CASE("MQTT 5 persistent sessions outlive the connection too") {
  Mosquitto broker;
  auto topic = unique_topic("v5session");
  auto id = "rx-" + mq::generate_message_id().substr(0, 8);
  auto config = session(broker, topic, id);
  config.set("options.protocol_version", "5");
  open(config)->receive({.max = 1, .wait = 0ms, .lock = std::nullopt});
  publish_numbered(broker, topic, 4);
  {
    auto queue = open(config);
    auto got = queue->receive({.max = 1, .wait = 2s, .lock = std::nullopt});
    REQUIRE(payloads(got) == numbered(1, 1));
    queue->complete(got);
  }
  auto queue = open(config);
  CHECK(payloads(drain(*queue, 10, 1500ms)) == numbered(2, 4));
}

TEST_CASE("MQTT 5 in a persistent session: user properties become headers, the other properties are read past") {
  Mosquitto broker;
  auto topic = unique_topic("v5props");
  auto id = "rx-" + mq::generate_message_id().substr(0, 8);
  auto config = session(broker, topic, id, 2);
  config.set("options.protocol_version", "5");
  open(config)->receive({.max = 1, .wait = 0ms, .lock = std::nullopt});
  // Every kind of property a PUBLISH may carry: byte, four-byte integer,
  // string, binary data, and string pairs between them.
  REQUIRE(mosquitto_pub(broker, {"-V", "5", "-t", topic, "-q", "2", "-m", "with props", "-D", "publish",
                                 "payload-format-indicator", "1", "-D", "publish", "message-expiry-interval", "600",
                                 "-D", "publish", "content-type", "text/plain", "-D", "publish", "user-property",
                                 "trace", "abc", "-D", "publish", "response-topic", "re/ply", "-D", "publish",
                                 "correlation-data", "c0ffee", "-D", "publish", "user-property", "k", "v"})
              .exit_code == 0);
  publish_numbered(broker, topic, 1);
  auto queue = open(config);
  auto got = drain(*queue, 2, 2s);
  REQUIRE(got.size() == 2);
  CHECK(got[0].payload == "with props");
  CHECK(got[0].qos == 2);
  CHECK(got[0].headers == std::vector<mq::Header>{{"trace", "abc"}, {"k", "v"}});
  CHECK(got[1].payload == "m1");
  CHECK(got[1].qos == 1);
  CHECK(got[1].headers.empty());
}

TEST_CASE("a clean session (no client id) forgets what was published while away") {
  Mosquitto broker;
  auto topic = unique_topic("clean");
  open(broker.config(topic), {{"options.qos", "1"}})->receive({.max = 1, .wait = 0ms, .lock = std::nullopt});
  publish_numbered(broker, topic, 2);
  CHECK(open(broker.config(topic), {{"options.qos", "1"}})->receive({.max = 5, .wait = 300ms, .lock = std::nullopt}).empty());
}
