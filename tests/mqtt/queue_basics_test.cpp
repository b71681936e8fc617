// Library-level tests of the MQTT backend against a real mosquitto. The other
// side of each exchange is mosquitto_pub / mosquitto_sub where possible: two
// Paho clients in one process wait on each other's connect (Paho polls its
// sockets once a second).

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

#include "mqtt_helpers.hpp"

using namespace mqtest;

namespace {

// mosquitto_sub in the background, printing "topic payload" lines.
struct Subscriber {
  Process process;
  Subscriber(const Mosquitto& broker, const std::string& filter, int count, const std::vector<std::string>& extra = {})
      : process(argv(broker, filter, count, extra), {}, broker.dir(), "sub-" + mq::generate_message_id().substr(0, 6)) {
    // mosquitto_sub -d prints "Received SUBACK" once it is subscribed.
    REQUIRE(process.wait_for_output("SUBACK", 10s));
  }
  static std::vector<std::string> argv(const Mosquitto& broker, const std::string& filter, int count,
                                       const std::vector<std::string>& extra) {
    // Line-buffered, so that "SUBACK" shows before the end.
    std::vector<std::string> a{"stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker.port()), "-t", filter,
                               "-C", std::to_string(count), "-d", "-q", "1", "-F", "MSG %t %p"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // The "%t %p" lines.
  std::vector<std::string> messages(std::chrono::milliseconds timeout = 10s) {
    process.wait(timeout);
    std::vector<std::string> out;
    for (auto& line : lines(process.out()))
      if (line.rfind("MSG ", 0) == 0) out.push_back(line.substr(4));
    return out;
  }
};

}  // namespace

TEST_CASE("send at QoS 0, 1 and 2 reaches mosquitto_sub and counts acknowledgements") {
  Mosquitto broker;
  auto topic = unique_topic("send");
  Subscriber subscriber(broker, topic, 3);
  auto queue = open(broker.config(topic));
  for (int qos : {0, 1, 2}) {
    auto e = text("m" + std::to_string(qos));
    e.qos = qos;
    queue->send(e);
  }
  queue->flush();
  CHECK(queue->acknowledged() == 3);
  CHECK(subscriber.messages() == std::vector<std::string>{topic + " m0", topic + " m1", topic + " m2"});
}

TEST_CASE("mosquitto_pub into receive: payload, topic, qos, retained, type = topic") {
  Mosquitto broker;
  auto topic = unique_topic("recv");
  auto queue = open(broker.config(topic), {{"options.qos", "2"}});
  REQUIRE(queue->receive({.max = 1, .wait = 0ms, .lock = std::nullopt}).empty());
  for (int qos : {0, 1, 2})
    REQUIRE(mosquitto_pub(broker, {"-t", topic, "-q", std::to_string(qos), "-m", "p" + std::to_string(qos)}).exit_code == 0);
  auto got = drain(*queue, 3);
  REQUIRE(got.size() == 3);
  for (int qos : {0, 1, 2}) {
    const auto& e = got[static_cast<std::size_t>(qos)];
    CHECK(e.payload == "p" + std::to_string(qos));
    CHECK(e.topic == topic);
    CHECK(e.message_type == topic);
    CHECK(e.qos == qos);
    CHECK(e.retained == false);
    CHECK(e.message_id.size() == 32);
    CHECK_FALSE(e.correlation_id);
  }
  CHECK(got[0].message_id != got[1].message_id);
}

TEST_CASE("topic filters with + and # receive only matching topics") {
  Mosquitto broker;
  auto base = unique_topic("wild");
  auto plus = open(broker.config(base + "/+/temp"), {{"options.qos", "1"}});
  REQUIRE(plus->receive({.max = 1, .wait = 0ms, .lock = std::nullopt}).empty());
  for (const auto& t : {base + "/a/temp", base + "/b/humidity", base + "/c/temp", base + "/d/e/temp"})
    REQUIRE(mosquitto_pub(broker, {"-t", t, "-q", "1", "-m", t}).exit_code == 0);
  auto got = drain(*plus, 5, 1500ms);
  CHECK(payloads(got) == std::vector<std::string>{base + "/a/temp", base + "/c/temp"});
  plus.reset();

  auto hash = open(broker.config(base + "/#"), {{"options.qos", "1"}});
  REQUIRE(hash->receive({.max = 1, .wait = 0ms, .lock = std::nullopt}).empty());
  for (const auto& t : {base + "/x", base + "/x/y/z", unique_topic("elsewhere")})
    REQUIRE(mosquitto_pub(broker, {"-t", t, "-q", "1", "-m", t}).exit_code == 0);
  got = drain(*hash, 5, 1500ms);
  CHECK(payloads(got) == std::vector<std::string>{base + "/x", base + "/x/y/z"});
}

TEST_CASE("invalid topics are configuration errors") {
  Mosquitto broker;
  auto queue = open(broker.config("a/+/b"));
  CHECK_THROWS_AS(queue->send(text("x")), mq::ConfigError);
  auto bad_filter = open(broker.config("a/b#"));
  CHECK_THROWS_AS(bad_filter->receive({.max = 1, .wait = 0ms, .lock = std::nullopt}), mq::ConfigError);
  mq::ConfigParams no_topic{{"backend", "mqtt"}, {"connection.host", "127.0.0.1"}};
  CHECK_THROWS_AS(mq::open_queue(no_topic), mq::ConfigError);
  CHECK_THROWS_AS(open(broker.config("t"), {{"options.qos", "3"}}), mq::ConfigError);
  CHECK_THROWS_AS(open(broker.config("t"), {{"options.protocol_version", "4.0"}}), mq::ConfigError);
}

TEST_CASE("count is unsupported and names the capability, capabilities are reported") {
  Mosquitto broker;
  auto queue = open(broker.config("t"));
  CHECK(queue->backend() == "mqtt");
  try {
    queue->message_count();
    FAIL("count did not throw");
  } catch (const mq::UnsupportedError& e) {
    CHECK(std::string(e.what()) == "mqtt backend does not support message count");
    CHECK(e.code() == mq::ExitCode::unsupported);
  }
  const auto& caps = queue->capabilities();
  CHECK_FALSE(caps.message_count);
  CHECK(caps.peek);
  CHECK(caps.peek_batch);
  CHECK(caps.clear);
  CHECK(caps.abandon);
  CHECK_FALSE(caps.renew_lock);
  CHECK_FALSE(caps.dead_letter);
  CHECK_FALSE(caps.lock_tokens);
}

TEST_CASE("peek shows retained messages without taking them, clear removes them and counts") {
  Mosquitto broker;
  auto base = unique_topic("retained");
  for (const auto& leaf : {"a", "b", "c"})
    REQUIRE(mosquitto_pub(broker, {"-t", base + "/" + leaf, "-r", "-q", "1", "-m", std::string("r-") + leaf}).exit_code == 0);
  REQUIRE(mosquitto_pub(broker, {"-t", base + "/live", "-q", "1", "-m", "not retained"}).exit_code == 0);

  auto queue = open(broker.config(base + "/#"));
  auto one = queue->peek(1);
  REQUIRE(one.size() == 1);
  CHECK(one[0].retained == true);
  auto all = queue->peek(100);
  REQUIRE(all.size() == 3);
  std::set<std::string> seen;
  for (const auto& e : all) seen.insert(e.payload);
  CHECK(seen == std::set<std::string>{"r-a", "r-b", "r-c"});
  CHECK(queue->peek(100).size() == 3);  // still there

  auto just_b = open(broker.config(base + "/b"));
  CHECK(just_b->clear() == 1u);
  CHECK(queue->peek(100).size() == 2);
  CHECK(queue->clear() == 2u);
  CHECK(queue->peek(100).empty());
  CHECK(queue->clear() == 0u);
}

TEST_CASE("clear removes more retained messages than Paho takes in flight at once") {
  Mosquitto broker;
  auto base = unique_topic("many-retained");
  const int count = 150;  // Paho refuses a publish beyond its in-flight limit (64 here)
  for (int i = 0; i < count; ++i)
    REQUIRE(mosquitto_pub(broker, {"-t", base + "/" + std::to_string(i), "-r", "-q", "1", "-m", "r"}).exit_code == 0);
  auto queue = open(broker.config(base + "/#"));
  REQUIRE(queue->peek(1000).size() == static_cast<std::size_t>(count));
  CHECK(queue->clear() == static_cast<std::uint64_t>(count));
  CHECK(queue->peek(1000).empty());
}

TEST_CASE("send with retain leaves a retained message for later subscribers") {
  Mosquitto broker;
  auto topic = unique_topic("keep");
  auto queue = open(broker.config(topic), {{"options.retain", "true"}, {"options.qos", "1"}});
  send_all(*queue, {"kept"});
  auto sub = mosquitto_sub(broker, {"-t", topic, "-C", "1", "-F", "%r %p", "-W", "5"});
  CHECK(sub.out == "1 kept\n");
}

TEST_CASE("no broker: a clear error naming the address, quickly") {
  int port = free_port();
  auto config = mq::parse_queue_uri("mqtt://127.0.0.1:" + std::to_string(port) + "/t");
  auto started = std::chrono::steady_clock::now();
  try {
    auto queue = open(config);
    queue->send(text("x"));
    FAIL("no error");
  } catch (const mq::BrokerError& e) {
    CHECK(std::string(e.what()) == "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
    CHECK(e.code() == mq::ExitCode::broker);
  }
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("serialize_envelope writes pip's serialized envelope, such payloads are decoded on receive") {
  Mosquitto broker;
  auto topic = unique_topic("pip");
  Subscriber subscriber(broker, topic, 1);
  auto queue = open(broker.config(topic), {{"options.serialize_envelope", "true"}, {"options.qos", "1"}});
  mq::Envelope e = text("payload-0");
  e.message_id = "36c2e3e102a6442f9ccd76e6abb72fca";
  e.correlation_id = "corr-0";
  e.message_type = "acc.type";
  e.sent_time = *mq::parse_time("2026-11-22T01:48:45.102Z");
  queue->send(e);
  queue->flush();
  auto got = subscriber.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0] == topic +
                      " {\"message_id\":\"36c2e3e102a6442f9ccd76e6abb72fca\",\"correlation_id\":\"corr-0\","
                      "\"message_type\":\"acc.type\",\"sent_time\":\"2026-11-22T01:48:45.102Z\",\"message\":\"cGF5bG9hZC0w\"}");

  // What a pip sender writes is read back as its envelope, whatever the option says.
  auto receiver = open(broker.config(topic), {{"options.qos", "1"}});
  REQUIRE(receiver->receive({.max = 1, .wait = 0ms, .lock = std::nullopt}).empty());
  REQUIRE(mosquitto_pub(broker, {"-t", topic, "-q", "1", "-m",
                                 R"({"message_id":"a59a513eff70442aa8af352009663f39","correlation_id":null,"message_type":"t.x","sent_time":"2026-11-22T01:48:45.102Z","message":"aGk="})"})
              .exit_code == 0);
  auto decoded = drain(*receiver, 1);
  REQUIRE(decoded.size() == 1);
  CHECK(decoded[0].payload == "hi");
  CHECK(decoded[0].message_id == "a59a513eff70442aa8af352009663f39");
  CHECK(decoded[0].message_type == "t.x");
  CHECK_FALSE(decoded[0].correlation_id);
  CHECK(mq::format_time(decoded[0].sent_time) == "2026-11-22T01:48:45.102Z");
  CHECK(decoded[0].topic == topic);
}

TEST_CASE("MQTT 5: headers travel as user properties both ways") {
  Mosquitto broker;
  auto topic = unique_topic("v5");
  auto receiver = open(broker.config(topic), {{"options.qos", "1"}, {"options.protocol_version", "5"}});
  REQUIRE(receiver->receive({.max = 1, .wait = 0ms, .lock = std::nullopt}).empty());
  REQUIRE(mosquitto_pub(broker, {"-V", "5", "-t", topic, "-q", "1", "-m", "with props", "-D", "publish",
                                 "user-property", "trace", "abc", "-D", "publish", "user-property", "k", "v"})
              .exit_code == 0);
  auto got = drain(*receiver, 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].headers == std::vector<mq::Header>{{"trace", "abc"}, {"k", "v"}});

  Subscriber subscriber(broker, topic, 1, {"-V", "5", "-F", "MSG %t %p %P"});
  auto sender = open(broker.config(topic), {{"options.qos", "1"}, {"options.protocol_version", "5"}});
  auto e = text("out");
  e.headers = {{"h1", "v1"}};
  sender->send(e);
  sender->flush();
  auto seen = subscriber.messages();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].find("out") != std::string::npos);
  CHECK(seen[0].find("h1") != std::string::npos);
  CHECK(seen[0].find("v1") != std::string::npos);
}

TEST_CASE("many messages at QoS 0, 1 and 2 are pipelined, all acknowledged, in order") {
  // With max_queued_messages 0 (as the test brokers have it), mosquitto drops
  // a 3.1.1 client that has more than max_inflight_messages (20) QoS 2
  // messages awaiting PUBREL: the default window must stay within that.
  Mosquitto broker;
  auto qos = GENERATE(0, 1, 2);
  auto topic = unique_topic("bulk");
  const int count = 20000;
  Subscriber subscriber(broker, topic, count);
  auto queue = open(broker.config(topic), {{"options.qos", std::to_string(qos)}, {"options.retry_connect", "false"}});
  for (int i = 0; i < count; ++i) queue->send(text("m" + std::to_string(i)));
  queue->flush();
  CHECK(queue->acknowledged() == static_cast<std::uint64_t>(count));
  auto got = subscriber.messages(30s);
  REQUIRE(got.size() == static_cast<std::size_t>(count));
  CHECK(got.front() == topic + " m0");
  CHECK(got.back() == topic + " m" + std::to_string(count - 1));
  CHECK(std::is_sorted(got.begin(), got.end(), [&](const std::string& a, const std::string& b) {
    return std::stoi(a.substr(topic.size() + 2)) < std::stoi(b.substr(topic.size() + 2));
  }));
}

TEST_CASE("MQTT 5: a window larger than the broker's receive maximum keeps to the receive maximum") {
  // Same broker rule as above, with 3: a fourth QoS 2 message awaiting PUBREL
  // drops the connection (and retry_connect is off, so the send would fail).
  MosquittoOptions options;
  options.extra_config = "max_inflight_messages 3";
  Mosquitto broker(options);
  auto topic = unique_topic("receive-maximum");
  Subscriber subscriber(broker, topic, 500);
  auto queue = open(broker.config(topic), {{"options.qos", "2"},
                                           {"options.protocol_version", "5"},
                                           {"options.max_inflight", "64"},
                                           {"options.retry_connect", "false"}});
  for (int i = 0; i < 500; ++i) queue->send(text("m" + std::to_string(i)));
  queue->flush();
  CHECK(queue->acknowledged() == 500);
  CHECK(subscriber.messages(30s).size() == 500);
}

TEST_CASE("MQTT 5: messages the broker refuses fail the send with its reason") {
  // This mosquitto (max_queued_messages 0) also drops the connection after
  // each refusal, so the messages after the first are sent again on new
  // connections; each counts once.
  TempDir acl_dir;
  std::ofstream(acl_dir.path() / "acl") << "topic readwrite allowed/#\n";
  MosquittoOptions options;
  options.extra_config = "acl_file " + (acl_dir.path() / "acl").string();
  Mosquitto broker(options);
  for (int qos : {1, 2}) {
    CAPTURE(qos);
    auto queue = open(broker.config("denied/" + unique_topic("acl")),
                      {{"options.qos", std::to_string(qos)}, {"options.protocol_version", "5"}});
    for (int i = 0; i < 3; ++i) queue->send(text("x"));
    try {
      queue->flush();
      FAIL("flush succeeded");
    } catch (const mq::SendFailed& error) {
      CHECK(std::string(error.what()) == "3 of 3 messages refused by the broker: Not authorized");
      CHECK(error.acknowledged == 0);
    }
  }
  auto allowed = open(broker.config("allowed/" + unique_topic("acl")), {{"options.qos", "1"}, {"options.protocol_version", "5"}});
  allowed->send(text("y"));
  allowed->flush();
  CHECK(allowed->acknowledged() == 1);
}
