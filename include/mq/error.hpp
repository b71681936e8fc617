#pragma once
// Errors of the driver layer. Each kind carries the process exit code the
// spec assigns to it, so the CLI never has to guess what a failure means.

#include <cstddef>
#include <stdexcept>
#include <string>

namespace mq {

enum class ExitCode : int {
  ok = 0,
  nothing_arrived = 1,  // receive/peek: nothing within --wait
  usage = 2,            // usage or configuration error
  broker = 3,           // connection, authentication, broker, unacknowledged send
  unsupported = 4,      // the backend lacks the capability
  bad_input = 5,        // send: malformed input line
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

struct UsageError : Error {
  explicit UsageError(const std::string& what) : Error(ExitCode::usage, what) {}
};

struct ConfigError : Error {
  explicit ConfigError(const std::string& what) : Error(ExitCode::usage, what) {}
};

// Connection refused, authentication failed, broker said no. `timed_out`
// separates "the broker never answered" from "the broker answered no".
struct BrokerError : Error {
  explicit BrokerError(const std::string& what, bool timed_out = false)
      : Error(ExitCode::broker, what), timed_out(timed_out) {}
  bool timed_out;
};

// The backend cannot do this at all; `capability` is the seeds' name for it.
struct UnsupportedError : Error {
  UnsupportedError(const std::string& backend, const std::string& capability)
      : Error(ExitCode::unsupported, backend + " backend does not support " + capability),
        capability(capability) {}
  std::string capability;
};

// Malformed input to send. `line` counts from 1.
struct InputError : Error {
  InputError(std::size_t line, const std::string& why)
      : Error(ExitCode::bad_input, "line " + std::to_string(line) + ": " + why), line(line) {}
  std::size_t line;
};

}  // namespace mq
