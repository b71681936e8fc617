#pragma once
// Each subcommand registers its options and returns what to run once the
// command line is parsed.

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/queue_options.hpp"

namespace mq::cli {

struct Command {
  CLI::App* app;
  std::function<int()> run;  // returns the exit code; throws mq::Error
  // Where the arguments after "--" go; null for a command that takes none.
  std::vector<std::string>* operands = nullptr;
};

Command register_send(CLI::App& parent, const QueueOptions& queue);
Command register_receive(CLI::App& parent, const QueueOptions& queue);
Command register_peek(CLI::App& parent, const QueueOptions& queue);
Command register_count(CLI::App& parent, const QueueOptions& queue);
Command register_listen(CLI::App& parent, const QueueOptions& queue);
Command register_clear(CLI::App& parent, const QueueOptions& queue);
Command register_info(CLI::App& parent, const QueueOptions& queue);
Command register_config(CLI::App& parent, const QueueOptions& queue);
// complete, abandon, renew, dead-letter
std::vector<Command> register_lock_commands(CLI::App& parent, const QueueOptions& queue);

// For -n: a whole number of at least 1.
const CLI::Validator& positive_count();

// "5s", "250ms" for messages.
std::string describe(Duration duration);

// A command's help footer: notes first, then "Examples:" and the examples,
// so that --help ends with them.
std::string help_footer(const std::string& notes, const std::vector<std::string>& examples);

// The candidate nearest to a mistyped word (edit distance, a swap of two
// letters counting as one; or the only candidate it starts), if any is near.
std::optional<std::string> nearest_name(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace mq::cli
