#pragma once
// Helpers for the tests of mq in the shell: what the program says it
// accepts, and running it under a pseudo-terminal.

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_support.hpp"

namespace shelltest {

using namespace mqtest;

// One line of `mq --list-options`.
struct ListedOption {
  std::string command;  // "" for mq itself, "send", "config path"
  std::string name;     // "-q", "--queue"
  std::string value;    // "URI|NAME"; empty for a flag
};

inline std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream stream(text);
  while (std::getline(stream, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

inline std::vector<ListedOption> listed_options() {
  auto result = run({mq_binary(), "--list-options"});
  REQUIRE(result.exit_code == 0);
  std::vector<ListedOption> options;
  for (const auto& line : lines(result.out)) {
    if (line.empty()) continue;
    auto fields = split(line, '\t');
    REQUIRE(fields.size() >= 3);
    std::string command = fields[0] == "mq" ? "" : fields[0].substr(3);
    options.push_back({command, fields[1], fields[2]});
  }
  REQUIRE(options.size() > 40);
  return options;
}

// The commands `mq --help` lists (and config's "path").
inline std::vector<std::string> command_names() {
  auto help = run({mq_binary(), "--help"});
  REQUIRE(help.exit_code == 0);
  std::vector<std::string> commands;
  bool in_list = false;
  for (const auto& line : lines(help.out)) {
    if (line.rfind("Subcommands:", 0) == 0) {
      in_list = true;
      continue;
    }
    if (in_list && line.empty()) break;
    if (in_list) {
      std::istringstream words(line);
      std::string name;
      words >> name;
      commands.push_back(name);
    }
  }
  REQUIRE(commands.size() >= 12);
  return commands;
}

// Runs a shell script under a pseudo-terminal (script(1)), in the sandbox's
// directory: stdin, stdout and stderr of the script are the terminal; its
// output is what the terminal got.
inline Result in_terminal(const Sandbox& sandbox, const std::string& script, const Env& extra = {}) {
  Env env = sandbox.env;
  for (const auto& [key, value] : extra) env[key] = value;
  env["TERM"] = "xterm";
  return run({"script", "-qefc", "cd '" + sandbox.dir.str() + "' && " + script, "/dev/null"}, {}, env);
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace shelltest
