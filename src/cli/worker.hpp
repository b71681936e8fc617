#pragma once
// mq listen --exec: a worker that runs a command once per message and
// completes, gives back or dead-letters the message by its exit status.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "cli/queue_options.hpp"
#include "mq/envelope.hpp"

namespace mq::cli {

struct WorkerOptions {
  std::vector<std::string> command;  // CMD ARGS..., run with execvp semantics
  // Deliveries of a message that may fail before it is dead-lettered; unset:
  // retried until it succeeds (5 when a dead-letter queue is named).
  std::optional<int> max_attempts;
  std::optional<std::string> dead_letter;  // a URI or a config entry name
  std::optional<std::size_t> concurrency;  // unset: the queue's default
  std::optional<Duration> lock;  // backends with lock tokens; default 30s
  std::size_t count = 0;         // messages finished for good; 0: until stopped
};

// Runs until SIGINT/SIGTERM (the running commands finish and their messages
// are settled) or `count` messages were finished. Returns the exit code.
int run_worker(const QueueOptions& queue_options, const WorkerOptions& options);

}  // namespace mq::cli
