#include <MQTTAsync.h>

#include <cstring>

#include "mq/backend_module.hpp"
#include "mqtt/mqtt_queue.hpp"

namespace {

mq::LibraryVersion paho() {
  for (const MQTTAsync_nameValue* info = MQTTAsync_getVersionInfo(); info && info->name; ++info)
    if (std::strcmp(info->name, "Version") == 0 && info->value) return {"Paho MQTT C", info->value};
  return {"Paho MQTT C", "unknown"};
}

}  // namespace

MQ_BACKEND_MODULE(mq::open_mqtt_queue, paho)
