#pragma once
// The message envelope of the seeds (MessageEnvelope) plus the metadata a
// backend knows about a delivered message.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mq {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;
using Duration = std::chrono::milliseconds;

struct Header {
  std::string name;
  std::string value;
  bool operator==(const Header&) const = default;
};

struct Envelope {
  std::string message_id;
  std::optional<std::string> correlation_id;
  std::optional<std::string> message_type;
  TimePoint sent_time{};
  std::string payload;  // raw bytes, not necessarily text

  // Metadata: filled in by the backend that delivered the message, printed
  // only when present.
  std::optional<std::string> queue;
  std::optional<std::string> topic;
  std::optional<std::int32_t> partition;
  std::optional<std::int64_t> offset;
  std::optional<std::string> key;
  std::vector<Header> headers;
  std::optional<TimePoint> timestamp;
  std::optional<int> qos;
  std::optional<bool> retained;
  std::optional<std::string> lock_token;
  std::optional<int> delivery_count;

  // What the delivering backend needs to complete or abandon this message in
  // this process (a row id, an offset, a packet id). Never printed.
  std::uint64_t receipt = 0;
};

// 32 lowercase hex characters, a UUID v4 without dashes, as pip-services writes.
std::string generate_message_id();

TimePoint now_ms();

// "2026-11-22T01:02:03.456Z"
std::string format_time(TimePoint t);
void append_time(std::string& out, TimePoint t);
// Accepts ISO 8601 with or without fraction, 'Z' or a numeric offset.
std::optional<TimePoint> parse_time(std::string_view text);

// Fills message_id and sent_time when absent.
void stamp(Envelope& envelope);

}  // namespace mq
