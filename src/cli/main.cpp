// mq [QUEUE OPTIONS] COMMAND [COMMAND OPTIONS] [ARGS]

#include <signal.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <vector>

#include "cli/commands.hpp"
#include "cli/queue_options.hpp"
#include "mq/error.hpp"
#include "mq/narrate.hpp"
#include "mq/version.hpp"

namespace {

using mq::cli::Command;

const std::string overview_footer = mq::cli::help_footer(
    "Queues:\n"
    "  memory://NAME                                   shared memory on this host\n"
    "  mqtt[s]://[USER@]HOST[:PORT]/TOPIC[?qos=1...]   (# as %23)\n"
    "  kafka://HOST[:PORT][,HOST:PORT...]/TOPIC[?group_id=G...]\n"
    "  NAME                                            an entry of the config file (mq config lists them)\n"
    "\n"
    "Exit status: 0 ok, 1 nothing arrived, 2 usage or configuration, 3 connection or broker,\n"
    "4 not supported by the backend, 5 bad input data.\n"
    "mq COMMAND --help says more about a command; man mq says everything.",
    {"seq 10 | mq -q memory://jobs send --lines", "mq -q memory://jobs receive -n 10 -w 5s",
     "mq receive -q kafka://localhost/orders --group billing --format payload"});

std::string version_text() {
  std::string libraries;
  for (const auto& library : mq::library_versions())
    libraries += fmt::format("{}{} {}", libraries.empty() ? "" : ", ", library.name, library.version);
  return fmt::format("mq {} ({})", MQ_VERSION, libraries);
}

std::string command_path(const CLI::App* app) {
  std::string path;
  for (; app; app = app->get_parent()) path = path.empty() ? app->get_name() : app->get_name() + " " + path;
  return path;
}

// mq --list-options: every option of mq and of each command, one a line,
// "COMMAND<tab>OPTION<tab>VALUE<tab>DESCRIPTION" (VALUE empty for a flag), so
// that the man page and the completions can be checked against the program.
void list_options(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    if (!option->nonpositional()) continue;
    if (app.get_parent() && option == app.get_help_ptr()) continue;  // the same -h,--help everywhere
    std::string value = option->get_type_name();
    if (option->get_expected_max() == 0 || option->get_items_expected_max() == 0) value.clear();
    for (const auto& name : option->get_snames())
      fmt::print("{}\t-{}\t{}\t{}\n", command_path(&app), name, value, option->get_description());
    for (const auto& name : option->get_lnames())
      fmt::print("{}\t--{}\t{}\t{}\n", command_path(&app), name, value, option->get_description());
  }
  for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; })) list_options(*command);
}

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (const auto& name : option->get_snames()) names.push_back("-" + name);
    for (const auto& name : option->get_lnames()) names.push_back("--" + name);
  }
  return names;
}

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(command->get_name());
  return names;
}

// "unknown option "--formt"; did you mean "--format"?"
std::string explain_unknown(const CLI::App& app, const CLI::App* chosen, const std::string& word) {
  std::vector<std::string> candidates;
  std::string what;
  if (word.size() > 1 && word[0] == '-') {
    what = "unknown option";
    candidates = option_names(app);
    if (chosen) {
      auto own = option_names(*chosen);
      // Met before the command name, where only queue options are read.
      if (std::find(own.begin(), own.end(), word.substr(0, word.find('='))) != own.end())
        return fmt::format("option \"{}\" of mq {} goes after the command name", word, chosen->get_name());
      candidates.insert(candidates.end(), own.begin(), own.end());
    }
  } else if (!chosen) {
    what = "unknown command";
    candidates = command_names(app);
  } else {
    what = "unexpected argument";
    candidates = command_names(*chosen);
  }
  auto guess = mq::cli::nearest_name(word, candidates);
  return fmt::format("{} \"{}\"{}", what, word, guess ? fmt::format("; did you mean \"{}\"?", *guess) : "");
}

int run(const std::string& name, const Command& command) {
  mq::Stopwatch running;
  int status;
  try {
    status = command.run();
  } catch (const mq::Error& error) {
    mq::cli::print_error(name, error.what());
    status = static_cast<int>(error.code());
  } catch (const std::exception& error) {
    mq::cli::print_error(name, error.what());
    status = static_cast<int>(mq::ExitCode::broker);
  }
  mq::narrate("{} finished in {}, exit status {}", name, running.text(), status);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // A reader that goes away (| head -1) shows up as EPIPE, a normal ending.
  ::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"mq: send and receive messages on memory, MQTT and Kafka queues", "mq"};
  app.set_version_flag("--version", version_text, "Print the version of mq, librdkafka and Paho MQTT C, and exit");
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

  if (argc == 2 && std::strcmp(argv[1], "--list-options") == 0) {
    list_options(app);
    return 0;
  }

  // CLI11 loses what follows "--" once a command has some positional
  // arguments (mq send a -- -b), so the operands after it are set aside here
  // and handed to the command after parsing.
  std::vector<std::string> arguments(argv + 1, argv + argc);
  std::vector<std::string> operands;
  // mq listen ... --exec CMD ARGS...: the words after --exec are CMD's,
  // whatever they look like (worker.cpp); --exec itself stays, as a flag.
  auto is_mark = [](const std::string& word) { return word == "--" || word == "--exec"; };
  if (auto mark = std::find_if(arguments.begin(), arguments.end(), is_mark); mark != arguments.end()) {
    operands.assign(mark + 1, arguments.end());
    arguments.erase(*mark == "--exec" ? mark + 1 : mark, arguments.end());
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
    std::string why = !extras.empty() ? explain_unknown(app, chosen ? chosen->app : nullptr, extras.front())
                                      : "a command is required";
    std::string where = chosen ? chosen->app->get_name() : "usage";
    mq::cli::print_error(where, fmt::format("{} (see mq {}--help)", why, chosen ? where + " " : ""));
    return static_cast<int>(mq::ExitCode::usage);
  }
  if (queue.verbose) mq::cli::start_narration();
  return run(chosen->app->get_name(), *chosen);
}
