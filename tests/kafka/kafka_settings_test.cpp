// The Kafka backend's configuration keys: the seed's, the additions, and
// kafka.<property> passed through to librdkafka.

#include <catch2/catch.hpp>

#include "../../src/kafka/kafka_client.hpp"
#include "mq/mq.hpp"

using mq::ConfigParams;
using mq::kafka::read_settings;

namespace {

ConfigParams base(std::initializer_list<std::pair<const std::string, std::string>> extra = {}) {
  ConfigParams params{{"backend", "kafka"}, {"topic", "orders"}};
  params.merge(ConfigParams(extra));
  return params;
}

}  // namespace

TEST_CASE("settings: the seed's defaults") {
  auto settings = read_settings(base());
  CHECK(settings.bootstrap == "localhost:9092");
  CHECK(settings.topic == "orders");
  CHECK(settings.group_id == "default");
  CHECK(settings.from_beginning);
  CHECK(settings.read_partitions == 1);
  CHECK(settings.autocommit);
  CHECK(settings.acks == -1);
  CHECK(settings.log_level == 1);
  CHECK(settings.connect_timeout == mq::Duration{1000});
  CHECK(settings.request_timeout == mq::Duration{30000});
  CHECK(settings.session_timeout == mq::Duration{6000});
  CHECK_FALSE(settings.max_retries);
  CHECK_FALSE(settings.retry_timeout);
  CHECK_FALSE(settings.username);
}

TEST_CASE("settings: brokers come from connection.hosts, else host and port") {
  CHECK(read_settings(base({{"connection.host", "kafka1"}, {"connection.port", "9093"}})).bootstrap == "kafka1:9093");
  CHECK(read_settings(base({{"connection.host", "::1"}})).bootstrap == "[::1]:9092");
  CHECK(read_settings(base({{"connection.host", "ignored"}, {"connection.hosts", "a:1,b,[::1]:3"}})).bootstrap ==
        "a:1,b:9092,[::1]:3");
  auto from_uri = mq::parse_queue_uri("kafka://k1:9001,k2:9002/orders?group_id=billing&from_beginning=false");
  auto settings = read_settings(from_uri);
  CHECK(settings.bootstrap == "k1:9001,k2:9002");
  CHECK(settings.group_id == "billing");
  CHECK_FALSE(settings.from_beginning);
}

TEST_CASE("settings: the options keys") {
  auto settings = read_settings(base({{"options.acks", "1"},
                                      {"options.log_level", "4"},
                                      {"options.connect_timeout", "2500"},
                                      {"options.request_timeout", "5000"},
                                      {"options.max_retries", "3"},
                                      {"options.retry_timeout", "2000"},
                                      {"options.session_timeout", "9000"},
                                      {"autocommit", "false"},
                                      {"read_partitions", "4"}}));
  CHECK(settings.acks == 1);
  CHECK(settings.log_level == 4);
  CHECK(settings.connect_timeout == mq::Duration{2500});
  CHECK(settings.request_timeout == mq::Duration{5000});
  CHECK(settings.max_retries == std::optional<int>(3));
  CHECK(settings.retry_timeout == std::optional<mq::Duration>(mq::Duration{2000}));
  CHECK(settings.session_timeout == mq::Duration{9000});
  CHECK_FALSE(settings.autocommit);
  CHECK(settings.read_partitions == 4);
}

TEST_CASE("settings: values of the wrong shape are configuration errors naming the key") {
  auto refused = [](std::initializer_list<std::pair<const std::string, std::string>> extra, const std::string& key) {
    try {
      read_settings(base(extra));
      FAIL("accepted " << key);
    } catch (const mq::ConfigError& error) {
      CHECK(std::string(error.what()).find(key) != std::string::npos);
      CHECK(error.code() == mq::ExitCode::usage);
    }
  };
  refused({{"options.acks", "2"}}, "options.acks");
  refused({{"options.acks", "all"}}, "options.acks");
  refused({{"options.connect_timeout", "0"}}, "options.connect_timeout");
  refused({{"options.session_timeout", "soon"}}, "options.session_timeout");
  refused({{"read_partitions", "0"}}, "read_partitions");
  refused({{"from_beginning", "maybe"}}, "from_beginning");
  refused({{"connection.port", "70000"}}, "connection.port");
  refused({{"kafka.no.such.property", "1"}}, "kafka.no.such.property");
  refused({{"kafka.session.timeout.ms", "soon"}}, "kafka.session.timeout.ms");
  refused({{"group_id", ""}}, "group_id");
}

TEST_CASE("settings: credentials and kafka.<property> reach librdkafka, the properties last") {
  auto settings = read_settings(base({{"credential.username", "bob"},
                                      {"credential.password", "secret"},
                                      {"kafka.security.protocol", "SASL_SSL"},
                                      {"kafka.linger.ms", "7"}}));
  CHECK(settings.username == std::optional<std::string>("bob"));
  auto conf = mq::kafka::make_conf(settings, mq::kafka::Role::producer, nullptr);
  auto value = [&](const char* name) {
    char buffer[512];
    std::size_t size = sizeof buffer;
    REQUIRE(rd_kafka_conf_get(conf.get(), name, buffer, &size) == RD_KAFKA_CONF_OK);
    return std::string(buffer);
  };
  CHECK(value("security.protocol") == "sasl_ssl");
  CHECK(value("sasl.mechanisms") == "PLAIN");
  CHECK(value("sasl.username") == "bob");
  CHECK(value("linger.ms") == "7");
  CHECK(value("acks") == "-1");
  CHECK(value("enable.idempotence") == "true");

  auto consumer = mq::kafka::make_conf(read_settings(base({{"group_id", "g"}})), mq::kafka::Role::consumer, nullptr);
  char buffer[512];
  std::size_t size = sizeof buffer;
  REQUIRE(rd_kafka_conf_get(consumer.get(), "enable.auto.commit", buffer, &size) == RD_KAFKA_CONF_OK);
  CHECK(std::string(buffer) == "false");
  size = sizeof buffer;
  REQUIRE(rd_kafka_conf_get(consumer.get(), "session.timeout.ms", buffer, &size) == RD_KAFKA_CONF_OK);
  CHECK(std::string(buffer) == "6000");
}
