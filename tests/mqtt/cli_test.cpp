// The mq binary on mqtt:// and mqtts:// queues, against a real mosquitto.

#include <signal.h>

#include <algorithm>
#include <regex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mqtt_helpers.hpp"
#include "slow_link.hpp"

using namespace mqtest;
using nlohmann::json;

namespace {

std::vector<json> json_lines(const std::string& out) {
  std::vector<json> parsed;
  for (const auto& line : lines(out)) parsed.push_back(json::parse(line));
  return parsed;
}

std::vector<std::string> messages_of(const std::string& out) {
  std::vector<std::string> m;
  for (const auto& j : json_lines(out)) m.push_back(j["message"].get<std::string>());
  return m;
}

std::string numbered_lines(int count) {
  std::string text;
  for (int i = 1; i <= count; ++i) text += "m" + std::to_string(i) + "\n";
  return text;
}

}  // namespace

TEST_CASE("cli: send, then receive from a persistent session, with topic, qos and retained") {
  Mosquitto broker;
  Sandbox sandbox;
  auto uri = broker.uri(unique_topic("cli"));
  // The first receive creates the session; nothing is there yet.
  auto empty = sandbox.mq({"receive", "-q", uri, "--qos", "1", "--client-id", "cli-rx", "-w", "0"});
  CHECK(empty.exit_code == 1);
  auto sent = sandbox.mq({"send", "-q", uri, "--qos", "1", "one", "two", "three"});
  REQUIRE(sent.exit_code == 0);
  CHECK(sent.out.empty());
  auto got = sandbox.mq({"receive", "-q", uri, "--qos", "1", "--client-id", "cli-rx", "-n", "3", "-w", "5s"});
  REQUIRE(got.exit_code == 0);
  auto envelopes = json_lines(got.out);
  REQUIRE(envelopes.size() == 3);
  CHECK(messages_of(got.out) == std::vector<std::string>{"one", "two", "three"});
  for (const auto& e : envelopes) {
    CHECK(e["qos"] == 1);
    CHECK(e["retained"] == false);
    CHECK(e["topic"] == e["message_type"]);
  }
  CHECK(sandbox.mq({"receive", "-q", uri, "--qos", "1", "--client-id", "cli-rx", "-w", "300ms"}).exit_code == 1);
}

TEST_CASE("cli: mosquitto_pub into mq receive, mq send into mosquitto_sub") {
  Mosquitto broker;
  Sandbox sandbox;
  auto topic = unique_topic("interop");
  Process receiver({mq_binary(), "receive", "-q", broker.uri(topic), "--qos", "1", "-n", "2", "-w", "20s"}, sandbox.env,
                   sandbox.dir.path(), "receiver");
  // Wait for mq's subscription before publishing (clean session).
  for (int i = 0; i < 200 && broker.log().find(topic) == std::string::npos; ++i) std::this_thread::sleep_for(20ms);
  REQUIRE(mosquitto_pub(broker, {"-t", topic, "-q", "1", "-m", "from mosquitto_pub"}).exit_code == 0);
  REQUIRE(mosquitto_pub(broker, {"-t", topic, "-q", "0", "-m", "qos 0 too"}).exit_code == 0);
  REQUIRE(receiver.wait(20s) == 0);
  CHECK(messages_of(receiver.out()) == std::vector<std::string>{"from mosquitto_pub", "qos 0 too"});

  auto other = unique_topic("interop");
  Process sub({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker.port()), "-t", other, "-q", "1", "-C",
               "3", "-v"},
              {}, sandbox.dir.path(), "sub");
  for (int i = 0; i < 200 && broker.log().find(other) == std::string::npos; ++i) std::this_thread::sleep_for(20ms);
  REQUIRE(sandbox.mq({"send", "-q", broker.uri(other), "--qos", "1", "--lines"}, "a\nb\nc\n").exit_code == 0);
  REQUIRE(sub.wait(10s) == 0);
  CHECK(sub.out() == other + " a\n" + other + " b\n" + other + " c\n");
}

TEST_CASE("cli: receive -n 10 | head -1 with a persistent session leaves the other 9 to the next receive") {
  Mosquitto broker;
  Sandbox sandbox;
  auto uri = broker.uri(unique_topic("head"));
  REQUIRE(sandbox.mq({"receive", "-q", uri, "--qos", "1", "--client-id", "headless", "-w", "0"}).exit_code == 1);
  REQUIRE(sandbox.mq({"send", "-q", uri, "--qos", "1", "--lines"}, numbered_lines(10)).exit_code == 0);
  auto first = sandbox.sh("$MQ receive -q '" + uri + "' --qos 1 --client-id headless -n 10 | head -1");
  REQUIRE(first.exit_code == 0);
  CHECK(messages_of(first.out) == std::vector<std::string>{"m1"});
  auto rest = sandbox.mq({"receive", "-q", uri, "--qos", "1", "--client-id", "headless", "-n", "20", "-w", "2s"});
  std::vector<std::string> expected;
  for (int i = 2; i <= 10; ++i) expected.push_back("m" + std::to_string(i));
  CHECK(messages_of(rest.out) == expected);
}

TEST_CASE("cli: listen on a wildcard filter streams matching topics") {
  Mosquitto broker;
  Sandbox sandbox;
  auto base = unique_topic("listen");
  Process listener({mq_binary(), "listen", "-q", broker.uri(base + "/+/temp"), "--qos", "1", "-n", "2"}, sandbox.env,
                   sandbox.dir.path(), "listener");
  for (int i = 0; i < 200 && broker.log().find(base) == std::string::npos; ++i) std::this_thread::sleep_for(20ms);
  for (const auto& t : {base + "/a/temp", base + "/a/humidity", base + "/b/temp"})
    REQUIRE(mosquitto_pub(broker, {"-t", t, "-q", "1", "-m", t}).exit_code == 0);
  REQUIRE(listener.wait(20s) == 0);
  auto envelopes = json_lines(listener.out());
  REQUIRE(envelopes.size() == 2);
  CHECK(envelopes[0]["topic"] == base + "/a/temp");
  CHECK(envelopes[1]["topic"] == base + "/b/temp");
}

TEST_CASE("cli: peek shows retained messages, clear removes them and prints how many, count exits 4") {
  Mosquitto broker;
  Sandbox sandbox;
  auto base = unique_topic("ret");
  REQUIRE(sandbox.mq({"send", "-q", broker.uri(base + "/x"), "--qos", "1", "--retain", "kept x"}).exit_code == 0);
  REQUIRE(sandbox.mq({"send", "-q", broker.uri(base + "/y"), "--qos", "1", "--retain", "kept y"}).exit_code == 0);
  auto peeked = sandbox.mq({"peek", "-q", broker.uri(base + "/#"), "-n", "10"});
  REQUIRE(peeked.exit_code == 0);
  auto envelopes = json_lines(peeked.out);
  REQUIRE(envelopes.size() == 2);
  for (const auto& e : envelopes) CHECK(e["retained"] == true);
  // Still there: peek takes nothing.
  auto again = sandbox.mq({"peek", "-q", broker.uri(base + "/#"), "-n", "10"});
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(messages_of(again.out)) == std::vector<std::string>{"kept x", "kept y"});

  auto counted = sandbox.mq({"count", "-q", broker.uri(base + "/#")});
  CHECK(counted.exit_code == 4);
  CHECK(counted.err.find("mqtt backend does not support message count") != std::string::npos);

  auto cleared = sandbox.mq({"clear", "-q", broker.uri(base + "/#")});
  CHECK(cleared.exit_code == 0);
  CHECK(cleared.out == "2\n");
  CHECK(sandbox.mq({"peek", "-q", broker.uri(base + "/#")}).exit_code == 1);
}

TEST_CASE("cli: passwords from MQ_PASSWORD or --password-file, a wrong one is exit 3 with a clear message") {
  MosquittoOptions options;
  options.users = {{"bob", "hunter2"}};
  Mosquitto broker(options);
  Sandbox sandbox;
  auto uri = "mqtt://bob@127.0.0.1:" + std::to_string(broker.port()) + "/" + unique_topic("auth");
  CHECK(sandbox.mq({"send", "-q", uri, "--qos", "1", "x"}, {}, {{"MQ_PASSWORD", "hunter2"}}).exit_code == 0);
  auto password_file = sandbox.dir.path() / "password";
  write_file(password_file, "hunter2\n");
  std::filesystem::permissions(password_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  CHECK(sandbox.mq({"send", "-q", uri, "--qos", "1", "--password-file", password_file.string(), "x"}).exit_code == 0);
  auto wrong = sandbox.mq({"send", "-q", uri, "--qos", "1", "x"}, {}, {{"MQ_PASSWORD", "wrong"}});
  CHECK(wrong.exit_code == 3);
  CHECK(wrong.err.find("connection refused: not authorized") != std::string::npos);
  CHECK(wrong.err.find("wrong") == std::string::npos);
}

TEST_CASE("cli: mqtts with the test CA, a wrong CA is exit 3") {
  MosquittoOptions options;
  options.tls = true;
  Mosquitto broker(options);
  Sandbox sandbox;
  auto uri = broker.tls_uri(unique_topic("tls"));
  auto ok = sandbox.mq({"send", "-q", uri, "--qos", "1", "--set", "options.cafile=" + broker.ca_file(), "secure"});
  CHECK(ok.exit_code == 0);
  auto bad = sandbox.mq({"send", "-q", uri, "--set", "options.cafile=" + broker.other_ca_file(), "x"});
  CHECK(bad.exit_code == 3);
  CHECK(bad.err.find("certificate verify failed") != std::string::npos);
}

TEST_CASE("cli: no broker is exit 3 naming the address") {
  Sandbox sandbox;
  int port = free_port();
  auto result = sandbox.mq({"send", "-q", "mqtt://127.0.0.1:" + std::to_string(port) + "/t", "x"});
  CHECK(result.exit_code == 3);
  CHECK(result.err.find("cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused") !=
        std::string::npos);
}

TEST_CASE("cli: broker killed during send --lines at QoS 1: exit 0 with all delivered, or exit 3, never a lost ack") {
  MosquittoOptions options;
  options.persistence = true;
  Mosquitto broker(options);
  Sandbox sandbox;
  auto topic = unique_topic("crash");
  auto uri = broker.uri(topic);
  const int total = 20000;
  REQUIRE(sandbox.mq({"receive", "-q", uri, "--qos", "1", "--client-id", "crash-rx", "-w", "0"}).exit_code == 1);
  auto input = sandbox.dir.path() / "lines";
  write_file(input, numbered_lines(total));
  Process sender({mq_binary(), "send", "-q", uri + "?reconnect_timeout=200", "--qos", "1", "--lines"}, sandbox.env,
                 sandbox.dir.path(), "sender", input.string());
  // Kill the broker once messages are flowing; SIGTERM so that mosquitto
  // saves what it acknowledged (SIGKILL would lose its last unsaved ones).
  for (int i = 0; i < 500 && broker.log().find("PUBLISH from") == std::string::npos; ++i)
    std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(100ms);
  broker.stop(SIGTERM);
  std::this_thread::sleep_for(300ms);
  broker.start();
  auto code = sender.wait(60s);
  REQUIRE(code);
  auto drained = sandbox.mq({"receive", "-q", uri, "--qos", "1", "--client-id", "crash-rx", "-n",
                             std::to_string(2 * total), "-w", "2s", "--format", "payload"});
  std::set<std::string> distinct;
  for (const auto& line : lines(drained.out)) distinct.insert(line);
  INFO(sender.err());
  if (*code == 0) {
    CHECK(distinct.size() == static_cast<std::size_t>(total));
  } else {
    CHECK(*code == 3);
    std::smatch match;
    std::string err = sender.err();
    REQUIRE(std::regex_search(err, match, std::regex("([0-9]+) acknowledged")));
    CHECK(distinct.size() >= std::stoul(match[1]));
  }
}

TEST_CASE("cli: a send that takes longer than the keep-alive to get through keeps its connection, each message once") {
  // 2,000 messages of 100 bytes over an uplink of 50 kB/s reach the broker
  // in about 5 s, and Paho's ping goes out behind them: with a keep-alive of
  // 1 s, Paho gave up after about 3 s on a connection that was acknowledging
  // all along, and what was sent again came twice.
  Mosquitto broker;
  Sandbox sandbox;
  SlowLink link(broker.port(), 50'000);
  auto topic = unique_topic("slow-link");
  REQUIRE(sandbox.mq({"receive", "-q", broker.uri(topic), "--qos", "1", "--client-id", "slow-rx", "-w", "0"})
              .exit_code == 1);
  std::vector<std::string> expected;
  std::string input;
  for (int i = 0; i < 2000; ++i) {
    expected.push_back(fmt::format("{:09} {:x<90}", i, ""));
    input += expected.back() + "\n";
  }
  auto sent = sandbox.mq({"send", "-v", "-q", fmt::format("mqtt://127.0.0.1:{}/{}", link.port(), topic), "--qos",
                          "1", "--lines", "--set", "options.keepalive_timeout=1000"},
                         input);
  INFO(sent.err);
  REQUIRE(sent.exit_code == 0);
  CHECK(sent.err.find("lost") == std::string::npos);
  auto got = sandbox.mq({"receive", "-q", broker.uri(topic), "--qos", "1", "--client-id", "slow-rx", "-n", "2000",
                         "-w", "5s", "--format", "payload"});
  CHECK(lines(got.out) == expected);
  CHECK(sandbox.mq({"receive", "-q", broker.uri(topic), "--qos", "1", "--client-id", "slow-rx", "-w", "300ms"})
            .exit_code == 1);
}

TEST_CASE("cli: $http_proxy is not used for MQTT, and Paho's trace variable prints nothing") {
  Mosquitto broker;
  Sandbox sandbox;
  auto result = sandbox.mq({"send", "-q", broker.uri(unique_topic("proxy")), "--qos", "1", "x"}, {},
                           {{"http_proxy", "http://127.0.0.1:9"}, {"MQTT_C_CLIENT_TRACE", "ON"}});
  CHECK(result.exit_code == 0);
  CHECK(result.out.empty());
  CHECK(result.err.empty());
}
