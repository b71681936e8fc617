// mq [QUEUE OPTIONS] COMMAND [COMMAND OPTIONS] [ARGS]

#include <signal.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <vector>

#include "cli/commands.hpp"
#include "cli/queue_options.hpp"
#include "mq/error.hpp"

namespace {

using mq::cli::Command;

constexpr const char* overview_footer =
    "Queues:\n"
    "  memory://NAME                                   shared memory on this host\n"
    "  mqtt[s]://[USER@]HOST[:PORT]/TOPIC[?qos=1...]   (# as %23)\n"
    "  kafka://HOST[:PORT][,HOST:PORT...]/TOPIC[?group_id=G...]\n"
    "  NAME                                            an entry of the config file\n"
    "\n"
    "Examples:\n"
    "  mq send 'hello'                      (to memory://default)\n"
    "  seq 10 | mq -q memory://jobs send -l\n"
    "  mq -q memory://jobs receive -n 10 -w 5s\n"
    "  mq receive -q kafka://localhost/orders --group billing --format payload\n"
    "\n"
    "Exit status: 0 ok, 1 nothing arrived, 2 usage or configuration, 3 connection or broker,\n"
    "4 not supported by the backend, 5 bad input data.";

int run(const std::string& name, const Command& command) {
  try {
    return command.run();
  } catch (const mq::Error& error) {
    mq::cli::print_error(name, error.what());
    return static_cast<int>(error.code());
  } catch (const std::exception& error) {
    mq::cli::print_error(name, error.what());
    return static_cast<int>(mq::ExitCode::broker);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A reader that goes away (| head -1) shows up as EPIPE, a normal ending.
  ::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"mq: send and receive messages on memory, MQTT and Kafka queues", "mq"};
  app.set_version_flag("--version", std::string("mq ") + MQ_VERSION);
  // Unknown words are reported by us, naming them (CLI11 would only say a
  // subcommand is required).
  app.require_subcommand(0, 1);
  app.allow_extras();
  // Queue options are accepted after the command name too.
  app.fallthrough();
  app.footer(overview_footer);

  mq::cli::QueueOptions queue;
  mq::cli::add_queue_options(app, queue);

  std::vector<Command> commands = {
      mq::cli::register_send(app, queue),  mq::cli::register_receive(app, queue),
      mq::cli::register_peek(app, queue),  mq::cli::register_count(app, queue),
      mq::cli::register_listen(app, queue), mq::cli::register_clear(app, queue),
      mq::cli::register_info(app, queue),  mq::cli::register_config(app, queue),
  };
  for (auto& command : mq::cli::register_lock_commands(app, queue)) commands.push_back(std::move(command));

  // CLI11 loses what follows "--" once a command has some positional
  // arguments (mq send a -- -b), so the operands after it are set aside here
  // and handed to the command after parsing.
  std::vector<std::string> arguments(argv + 1, argv + argc);
  std::vector<std::string> operands;
  if (auto mark = std::find(arguments.begin(), arguments.end(), "--"); mark != arguments.end()) {
    operands.assign(mark + 1, arguments.end());
    arguments.erase(mark, arguments.end());
  }
  std::reverse(arguments.begin(), arguments.end());  // CLI11 takes them last first

  try {
    app.parse(arguments);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help, --version
    std::string where = "usage";
    for (const auto& command : commands)
      if (command.app->parsed()) where = command.app->get_name();
    mq::cli::print_error(where, fmt::format("{} (see mq {}--help)", error.what(),
                                             where == "usage" ? "" : where + " "));
    return static_cast<int>(mq::ExitCode::usage);
  }

  const Command* chosen = nullptr;
  for (const auto& command : commands)
    if (command.app->parsed()) chosen = &command;
  auto extras = app.remaining(true);
  if (chosen && chosen->operands) chosen->operands->insert(chosen->operands->end(), operands.begin(), operands.end());
  else extras.insert(extras.end(), operands.begin(), operands.end());
  if (!chosen || !extras.empty()) {
    std::string why = !extras.empty() ? fmt::format("{} \"{}\"", chosen ? "unexpected argument" : "unknown command",
                                                    extras.front())
                                      : "a command is required";
    std::string where = chosen ? chosen->app->get_name() : "usage";
    mq::cli::print_error(where, fmt::format("{} (see mq {}--help)", why, chosen ? where + " " : ""));
    return static_cast<int>(mq::ExitCode::usage);
  }
  return run(chosen->app->get_name(), *chosen);
}
