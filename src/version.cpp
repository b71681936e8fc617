#include "mq/version.hpp"

#include <MQTTAsync.h>
#include <librdkafka/rdkafka.h>

#include <cstring>

namespace mq {

namespace {

std::string paho_version() {
  for (const MQTTAsync_nameValue* info = MQTTAsync_getVersionInfo(); info && info->name; ++info)
    if (std::strcmp(info->name, "Version") == 0 && info->value) return info->value;
  return "unknown";
}

}  // namespace

std::vector<LibraryVersion> library_versions() {
  return {{"librdkafka", rd_kafka_version_str()}, {"Paho MQTT C", paho_version()}};
}

}  // namespace mq
