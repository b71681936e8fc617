// The MQTT backend's configuration keys that shape a send.

#include <catch2/catch.hpp>

#include "../../src/mqtt/mqtt_settings.hpp"
#include "mq/mq.hpp"

using mq::ConfigParams;
using mq::mqtt::read_settings;

TEST_CASE("settings: the send window is 20 at QoS 2 and 5000 at QoS 0 and 1, options.max_inflight sets it for all") {
  ConfigParams params{{"backend", "mqtt"}, {"topic", "orders"}};
  auto defaults = read_settings(params);
  CHECK(defaults.window(0) == 5000);
  CHECK(defaults.window(1) == 5000);
  CHECK(defaults.window(2) == 20);

  params.set("options.max_inflight", "64");
  auto chosen = read_settings(params);
  for (int qos : {0, 1, 2}) CHECK(chosen.window(qos) == 64);

  for (const char* wrong : {"0", "65536"}) {
    params.set("options.max_inflight", wrong);
    CHECK_THROWS_AS(read_settings(params), mq::ConfigError);
  }
}
