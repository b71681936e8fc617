#pragma once
// One memory queue's SQLite file, through one connection: the schema and the
// statements the queue runs on it.
//
// messages  one row per message; INTEGER PRIMARY KEY order is FIFO order, and
//           ids are never reused (counters.next_id), so a range of ids taken
//           once never gains a newcomer. `deliveries` counts finished
//           deliveries (and the current one of a timed lock); lock_until and
//           lock_token hold a timed lock that outlives its process.
// claims    runs of consecutive rows in flight to a live process (owner):
//           hidden from other receivers until completed, abandoned, or the
//           owner is found dead. One row per run keeps receiving cheap.
// owners    the processes holding claims (pid, start time, boot id).
// counters  one row: total rows, rows under claims, the next id; updated in
//           the same transactions, so counting never scans the table.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "memory/sqlite.hpp"
#include "mq/envelope.hpp"

namespace mq::memory {

// The envelope columns, in the order read_envelope() expects them.
#define MQ_MEMORY_ENVELOPE_COLUMNS "message_id, correlation_id, message_type, sent_time, payload, key, headers, deliveries"

struct StoredEnvelope {
  Envelope envelope;
  std::int64_t deliveries = 0;
};

struct Counters {
  std::int64_t total = 0;
  std::int64_t in_flight = 0;
};

class QueueStore {
 public:
  // Opens (creating when missing) the store file at `path`.
  explicit QueueStore(const std::string& path);

  Connection& connection() { return connection_; }
  const std::string& path() const { return connection_.path(); }

  // Appends messages at the tail in one transaction.
  void append(std::span<const Envelope> messages, std::optional<SteadyClock::time_point> lock_deadline);

  // Reads MQ_MEMORY_ENVELOPE_COLUMNS starting at `first_column`.
  static StoredEnvelope read_envelope(const Statement& row, int first_column);

  // Adds to the counters and returns their new values (inside a write transaction).
  Counters adjust_counters(std::int64_t total, std::int64_t in_flight, std::int64_t next_id = 0);
  Counters read_counters();
  // A counter that changes whenever another connection commits.
  std::int64_t data_version();
  std::int64_t free_pages();

  Connection connection_;
  bool schema_ready_;  // the tables exist before the statements below are prepared
  Statement next_id;
  Statement insert;
  Statement adjust;
  Statement counters;
  Statement version;
  Statement freelist;
};

std::string encode_headers(const std::vector<Header>& headers);
std::vector<Header> decode_headers(std::string_view bytes);

}  // namespace mq::memory
