#pragma once
// Shared by the MQTT tests: open a queue on a fixture broker, send and drain.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "mosquitto_fixture.hpp"
#include "mq/mq.hpp"

namespace mqtest {

inline std::unique_ptr<mq::Queue> open(mq::ConfigParams config, const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  config.set("options.connect_timeout", config.get_string("options.connect_timeout", "10000"));
  for (const auto& [key, value] : extra) config.set(key, value);
  return mq::open_queue(config);
}

inline mq::Envelope text(const std::string& payload) {
  mq::Envelope e;
  e.payload = payload;
  return e;
}

inline void send_all(mq::Queue& queue, const std::vector<std::string>& payloads) {
  for (const auto& p : payloads) queue.send(text(p));
  queue.flush();
}

// Receives until `count` arrived or `wait` passes without one; completes each.
inline std::vector<mq::Envelope> drain(mq::Queue& queue, std::size_t count, std::chrono::milliseconds wait = 3s) {
  std::vector<mq::Envelope> got;
  while (got.size() < count) {
    auto batch = queue.receive({.max = count - got.size(), .wait = wait, .lock = std::nullopt});
    if (batch.empty()) break;
    queue.complete(batch);
    for (auto& e : batch) got.push_back(std::move(e));
  }
  return got;
}

inline std::vector<std::string> payloads(const std::vector<mq::Envelope>& envelopes) {
  std::vector<std::string> out;
  for (const auto& e : envelopes) out.push_back(e.payload);
  return out;
}

inline std::string unique_topic(const std::string& base) { return base + "/" + mq::generate_message_id().substr(0, 8); }

}  // namespace mqtest
