#pragma once
// The queue of the seeds (IMessageQueue) as the tool drives it. Every backend
// implements this; no command knows which backend it talks to.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mq/config.hpp"
#include "mq/envelope.hpp"
#include "mq/error.hpp"

namespace mq {

// The seeds' MessagingCapabilities, plus what a command line needs to know.
struct Capabilities {
  bool message_count = false;
  bool send = true;
  bool receive = true;
  bool peek = false;
  bool peek_batch = false;
  bool renew_lock = false;
  bool abandon = false;
  bool dead_letter = false;
  bool clear = false;
  bool listen = true;
  // Locks that outlive the process (receive --lock, then complete TOKEN later).
  bool lock_tokens = false;
};

// Capability names as they appear in errors and `mq info`.
struct CapabilityRow {
  const char* name;
  bool Capabilities::*flag;
};
std::span<const CapabilityRow> capability_table();

struct ReceiveOptions {
  std::size_t max = 1;
  // How long to wait for the first message; further ones are taken only when
  // already at hand. nullopt waits forever.
  std::optional<Duration> wait;
  // Set: a lock that outlives this process (lock_token printed); unset: the
  // message is in flight to this process only until complete/abandon or exit.
  std::optional<Duration> lock;
};

class Queue {
 public:
  virtual ~Queue() = default;

  virtual std::string backend() const = 0;
  virtual const Capabilities& capabilities() const = 0;

  // Hands a message over for delivery; may block while the in-flight window is
  // full. Throws BrokerError when the backend is unusable.
  virtual void send(Envelope envelope) = 0;
  // Blocks until every message handed over so far is acknowledged. Throws
  // SendFailed (below) when some were not.
  virtual void flush() = 0;
  // Messages acknowledged by the backend so far.
  virtual std::uint64_t acknowledged() const = 0;

  // Messages delivered to this process, not yet removed from the queue.
  // Empty when nothing arrived within options.wait.
  virtual std::vector<Envelope> receive(const ReceiveOptions& options) = 0;
  // Removes delivered messages for good (after they were printed).
  virtual void complete(std::span<const Envelope> messages) = 0;
  // Gives delivered messages back to the queue for another delivery.
  virtual void abandon(std::span<const Envelope> messages);
  virtual void renew_lock(std::span<const Envelope> messages, Duration lock);
  virtual void move_to_dead_letter(std::span<const Envelope> messages);

  virtual std::vector<Envelope> peek(std::size_t max);
  virtual std::uint64_t message_count();
  // Returns how many were removed, when known.
  virtual std::optional<std::uint64_t> clear();

  // Long-lived consumption (a group member on Kafka). receive() afterwards
  // feeds the listener; end_listen() commits and leaves cleanly.
  virtual void begin_listen() {}
  virtual void end_listen() {}
  // How many messages a worker handles at once unless told otherwise
  // (Kafka: the seeds' read_partitions, partitions consumed concurrently).
  virtual std::size_t default_concurrency() const { return 1; }

 protected:
  // Throws UnsupportedError naming the capability.
  [[noreturn]] void unsupported(const std::string& capability) const;
};

// Thrown by flush(): some messages were not acknowledged.
struct SendFailed : BrokerError {
  SendFailed(const std::string& why, std::uint64_t acknowledged)
      : BrokerError(why), acknowledged(acknowledged) {}
  std::uint64_t acknowledged;
};

// Opens the queue a resolved configuration describes (key "backend").
std::unique_ptr<Queue> open_queue(const ConfigParams& config);

// Backends the factory knows, for help and completions.
std::vector<std::string> backend_names();

}  // namespace mq
