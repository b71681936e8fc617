#pragma once
// The options every command shares: which queue, how to reach it, and the
// configuration keys to override. They are accepted before and after the
// command name.

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mq/config.hpp"
#include "mq/queue.hpp"

namespace mq::cli {

struct QueueOptions {
  std::optional<std::string> queue;
  std::optional<std::string> config_path;
  std::optional<std::string> backend;
  std::optional<std::string> topic;
  std::optional<std::string> host;
  std::optional<std::string> port;
  std::optional<std::string> username;
  std::optional<std::string> password_file;
  std::optional<std::string> group;
  std::optional<std::string> qos;
  std::optional<std::string> client_id;
  std::optional<std::string> connect_timeout;
  std::optional<std::string> cafile;
  std::optional<std::string> cert;
  std::optional<std::string> key;
  bool insecure = false;
  std::vector<std::string> settings;  // KEY=VALUE
  bool verbose = false;
};

void add_queue_options(CLI::App& app, QueueOptions& options);

ResolveRequest make_resolve_request(const QueueOptions& options);

// --verbose: library and commands narrate on stderr, each line as
// "mq: [+0.012s] ...", with every secret the configuration holds blotted out.
void start_narration();

// Resolves the configuration; prints its warnings (and, with -v, what was
// chosen) to stderr.
ResolvedConfig resolve(const QueueOptions& options);

// resolve() and open_queue().
std::unique_ptr<Queue> open(const QueueOptions& options);

// Throws UnsupportedError unless the queue has the capability.
void require(const Queue& queue, bool Capabilities::*flag);

// "mqtt://user:secret@host/t" -> "mqtt://user:*****@host/t"
std::string masked_uri(const std::string& uri);

// One line to stderr: "mq: <what>: <why>".
void print_error(const std::string& what, const std::string& why);
void print_warning(const std::string& why);

}  // namespace mq::cli
