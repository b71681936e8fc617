#pragma once
// The versions of the libraries this program runs with, read from them at
// run time (not from the headers it was built with).

#include <string>
#include <vector>

namespace mq {

struct LibraryVersion {
  std::string name;     // "librdkafka", "Paho MQTT C"
  std::string version;  // "2.0.2"
};

std::vector<LibraryVersion> library_versions();

}  // namespace mq
