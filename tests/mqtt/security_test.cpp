// Passwords and TLS against mosquitto listeners set up for each test.

#include "mqtt_helpers.hpp"

using namespace mqtest;

namespace {

std::string broker_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const mq::BrokerError& e) {
    CHECK(e.code() == mq::ExitCode::broker);
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("username and password: right ones work, a wrong one is a clear broker error") {
  MosquittoOptions options;
  options.users = {{"alice", "s3cret"}};
  Mosquitto broker(options);
  auto topic = unique_topic("auth");
  auto config = broker.config(topic);
  config.set("credential.username", "alice");
  config.set("credential.password", "s3cret");
  {
    auto queue = open(config, {{"options.qos", "1"}});
    send_all(*queue, {"authorized"});
    CHECK(queue->acknowledged() == 1);
  }

  config.set("credential.password", "wrong");
  auto refused = open(config);
  CHECK(broker_error([&] { refused->send(text("x")); }) == "connection refused: not authorized");
  auto refused_receiver = open(config);
  CHECK(broker_error([&] { refused_receiver->receive({.max = 1, .wait = 0ms, .lock = std::nullopt}); }) ==
        "connection refused: not authorized");

  config.erase("credential.username");
  config.erase("credential.password");
  CHECK(broker_error([&] { open(config)->send(text("x")); }) == "connection refused: not authorized");

  auto v5 = broker.config(topic);
  v5.set("options.protocol_version", "5");
  v5.set("credential.username", "alice");
  v5.set("credential.password", "nope");
  CHECK(broker_error([&] { open(v5)->send(text("x")); }) == "connection refused: not authorized");
}

TEST_CASE("TLS: the broker's CA verifies it, another CA or no CA fails with the reason") {
  MosquittoOptions options;
  options.tls = true;
  Mosquitto broker(options);
  auto topic = unique_topic("tls");
  auto receiver = open(broker.tls_config(topic), {{"options.qos", "1"}});
  REQUIRE(receiver->receive({.max = 1, .wait = 0ms, .lock = std::nullopt}).empty());
  REQUIRE(mosquitto_pub(broker, {"-t", topic, "-q", "1", "-m", "over tls"}).exit_code == 0);
  CHECK(payloads(drain(*receiver, 1)) == std::vector<std::string>{"over tls"});
  receiver.reset();  // one Paho client at a time: a second one waits for the first's poll

  auto sender = open(broker.tls_config(topic), {{"options.qos", "1"}});
  send_all(*sender, {"sent over tls"});
  CHECK(sender->acknowledged() == 1);
  sender.reset();

  auto wrong_ca = broker.tls_config(topic);
  wrong_ca.set("options.cafile", broker.other_ca_file());
  auto message = broker_error([&] { open(wrong_ca)->send(text("x")); });
  CHECK(message.find("localhost:" + std::to_string(broker.tls_port())) != std::string::npos);
  CHECK(message.find("certificate verify failed") != std::string::npos);

  auto insecure = wrong_ca;
  insecure.set("options.insecure", "true");
  auto unchecked = open(insecure, {{"options.qos", "1"}});
  send_all(*unchecked, {"insecure"});
  CHECK(unchecked->acknowledged() == 1);
}

TEST_CASE("TLS with client certificates: --cert and --key are presented, missing ones refused") {
  MosquittoOptions options;
  options.tls = true;
  options.require_client_certificate = true;
  Mosquitto broker(options);
  auto topic = unique_topic("mtls");
  auto config = broker.tls_config(topic);
  CHECK(broker_error([&] { open(config)->send(text("x")); }).find("localhost:") != std::string::npos);
  config.set("options.cert", broker.client_cert());
  config.set("options.key", broker.client_key());
  auto queue = open(config, {{"options.qos", "1"}});
  send_all(*queue, {"with a client certificate"});
  CHECK(queue->acknowledged() == 1);
}

TEST_CASE("TLS through the acknowledgement gate: a persistent session over mqtts") {
  MosquittoOptions options;
  options.tls = true;
  options.require_client_certificate = true;
  Mosquitto broker(options);
  auto topic = unique_topic("gate-tls");
  auto config = broker.tls_config(topic);
  config.set("options.cert", broker.client_cert());
  config.set("options.key", broker.client_key());
  config.set("options.client_id", "rx-" + mq::generate_message_id().substr(0, 8));
  config.set("options.qos", "1");
  open(config)->receive({.max = 1, .wait = 0ms, .lock = std::nullopt});
  REQUIRE(mosquitto_pub(broker, {"-t", topic, "-q", "1", "-l"}, "one\ntwo\n").exit_code == 0);
  {
    auto queue = open(config);
    auto got = queue->receive({.max = 1, .wait = 2s, .lock = std::nullopt});
    REQUIRE(payloads(got) == std::vector<std::string>{"one"});
    queue->complete(got);
  }
  auto queue = open(config);
  CHECK(payloads(drain(*queue, 5, 1s)) == std::vector<std::string>{"two"});

  auto wrong_ca = config;
  wrong_ca.set("options.cafile", broker.other_ca_file());
  auto message = broker_error([&] { open(wrong_ca)->receive({.max = 1, .wait = 0ms, .lock = std::nullopt}); });
  INFO(message);
  CHECK(message.find("certificate verify failed") != std::string::npos);
}
