// Completions for bash, zsh and fish: run by the shells themselves, against
// the options the program says it accepts and a real config file.

#include <unistd.h>

#include <functional>
#include <thread>

#include "shell_support.hpp"

using namespace mqtest;
using namespace shelltest;

namespace {

std::filesystem::path completions() { return std::filesystem::path(MQ_SOURCE_DIR) / "completions"; }

// A sandbox with mq first in PATH and a config file naming two queues, one
// with a password.
struct ShellSandbox : Sandbox {
  ShellSandbox() {
    auto dir = this->dir.path() / "config" / "mq";
    std::filesystem::create_directories(dir);
    write_file(dir / "config.json", R"({"default": "jobs", "queues": {
      "jobs": {"uri": "memory://jobs"},
      "orders-eu": {"uri": "kafka://localhost/orders", "credential": {"username": "u", "password": "pw"}},
      "sensors": "mqtt://localhost/sensors/%23"}})");
    env["PATH"] = std::filesystem::path(mq_binary()).parent_path().string() + ":/usr/local/bin:/usr/bin:/bin";
  }
};

// COMPREPLY for a command line, by bash with bash-completion and mq.bash
// loaded, one word a line. The line is split into COMP_WORDS the way bash
// does (on blanks; a trailing blank starts an empty word).
std::vector<std::string> bash_complete(const Sandbox& sandbox, const std::string& line) {
  std::string script = R"(
source /usr/share/bash-completion/bash_completion
source ")" + (completions() / "mq.bash").string() + R"("
complete -p mq > /dev/null || exit 9
COMP_LINE=$1
COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_mq mq "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
)";
  auto result = run({"bash", "-c", script, "bash", line}, {}, sandbox.env);
  INFO("bash completing \"" << line << "\": " << result.err);
  REQUIRE(result.exit_code == 0);
  std::vector<std::string> words;
  for (const auto& word : lines(result.out))
    if (!word.empty()) words.push_back(word);
  return words;
}

// What fish offers for a command line (complete -C), the words only.
std::vector<std::string> fish_complete(const Sandbox& sandbox, const std::string& line) {
  auto result = run({"fish", "--no-config", "-c",
                     "source " + (completions() / "mq.fish").string() + "; complete -C" + "'" + line + "'"},
                    {}, sandbox.env);
  INFO("fish completing \"" << line << "\": " << result.err);
  REQUIRE(result.exit_code == 0);
  std::vector<std::string> words;
  for (const auto& entry : lines(result.out))
    if (!entry.empty()) words.push_back(split(entry, '\t').front());
  return words;
}

bool has(const std::vector<std::string>& words, const std::string& word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// Types `keys` into an interactive zsh in a tmux pane and returns the pane's
// text once it shows `expected` (or after a generous wait).
std::string zsh_session(const Sandbox& sandbox, const std::string& keys, const std::string& expected) {
  std::string socket = "mq-test-" + std::to_string(::getpid()) + "-" + std::to_string(free_port());
  Env env = sandbox.env;
  env["TERM"] = "xterm";
  env["TMUX"] = "\x01unset";
  auto tmux = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"tmux", "-L", socket, "-f", "/dev/null"});
    return run(args, {}, env, 30s);
  };
  std::string setup = "PS1='> '; fpath=(" + completions().string() + " $fpath); autoload -Uz compinit; compinit -u -d " +
                      sandbox.dir.str() + "/zcompdump; clear";
  REQUIRE(tmux({"new-session", "-d", "-x", "160", "-y", "20", "zsh -f"}).exit_code == 0);
  struct Stop {
    std::function<Result(std::vector<std::string>)> tmux;
    ~Stop() { tmux({"kill-server"}); }
  } stop{tmux};
  REQUIRE(tmux({"send-keys", setup, "Enter"}).exit_code == 0);
  // Wait for the prompt, then type the line and a tab.
  std::string pane;
  for (int i = 0; i < 200; ++i) {
    pane = tmux({"capture-pane", "-p"}).out;
    if (pane.rfind(">", 0) == 0) break;  // capture-pane drops trailing blanks
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(tmux({"send-keys", keys, "Tab"}).exit_code == 0);
  for (int i = 0; i < 200; ++i) {
    pane = tmux({"capture-pane", "-p"}).out;
    if (contains(pane, expected)) break;
    std::this_thread::sleep_for(50ms);
  }
  return pane;
}

}  // namespace

TEST_CASE("shell: bash completes commands, options, backends, formats and config queue names") {
  ShellSandbox sandbox;
  CHECK(bash_complete(sandbox, "mq sen") == std::vector<std::string>{"send"});
  CHECK(bash_complete(sandbox, "mq rec") == std::vector<std::string>{"receive"});
  auto all = bash_complete(sandbox, "mq ");
  for (const auto& command : command_names()) CHECK(has(all, command));
  CHECK(bash_complete(sandbox, "mq config ") == std::vector<std::string>{"path"});
  CHECK(bash_complete(sandbox, "mq --backend ") == std::vector<std::string>{"memory", "mqtt", "kafka"});
  CHECK(bash_complete(sandbox, "mq --backend k") == std::vector<std::string>{"kafka"});
  auto formats = bash_complete(sandbox, "mq receive --format ");
  for (const char* format : {"json", "pip", "payload"}) CHECK(has(formats, format));
  CHECK(bash_complete(sandbox, "mq --qos ") == std::vector<std::string>{"0", "1", "2"});

  // Queue names come from the config file, read when completing.
  auto queues = bash_complete(sandbox, "mq -q ");
  for (const char* queue : {"jobs", "orders-eu", "sensors", "memory://", "kafka://"}) CHECK(has(queues, queue));
  CHECK(bash_complete(sandbox, "mq receive -q ord") == std::vector<std::string>{"orders-eu"});
  write_file(sandbox.dir.path() / "other.json", R"({"queues": {"elsewhere": "memory://x"}})");
  CHECK(bash_complete(sandbox, "mq --config " + sandbox.dir.str() + "/other.json -q e") ==
        std::vector<std::string>{"elsewhere"});
  // After send, --key is the record key: nothing to complete.
  CHECK(bash_complete(sandbox, "mq send --key ").empty());
  // listen --exec completes a command to run.
  CHECK(has(bash_complete(sandbox, "mq listen --exec mkdi"), "mkdir"));
}

TEST_CASE("shell: bash offers every option of mq and of each command") {
  ShellSandbox sandbox;
  std::map<std::string, std::vector<std::string>> offered;
  auto offered_for = [&](const std::string& command) -> const std::vector<std::string>& {
    if (!offered.count(command)) offered[command] = bash_complete(sandbox, "mq " + command + (command.empty() ? "-" : " -"));
    return offered[command];
  };
  for (const auto& option : listed_options()) {
    INFO("mq " << option.command << " " << option.name);
    CHECK(has(offered_for(option.command), option.name));
    if (option.command.empty()) CHECK(has(offered_for("count"), option.name));  // queue options follow commands too
  }
}

TEST_CASE("shell: zsh -n and fish -n accept the completions, and both files know every option") {
  Sandbox sandbox;
  auto zsh = run({"zsh", "-n", (completions() / "_mq").string()}, {}, sandbox.env);
  INFO(zsh.err);
  CHECK(zsh.exit_code == 0);
  auto fish = run({"fish", "--no-config", "-n", (completions() / "mq.fish").string()}, {}, sandbox.env);
  INFO(fish.err);
  CHECK(fish.exit_code == 0);

  auto zsh_text = read_file(completions() / "_mq");
  auto fish_text = read_file(completions() / "mq.fish");
  for (const auto& option : listed_options()) {
    INFO("mq " << option.command << " " << option.name);
    // zsh: '-q+', '--queue=', '--pretty[', '{-n+,--count=}'
    bool in_zsh = false;
    for (const char* after : {"+", "=", "[", ",", "'", "}"})
      in_zsh = in_zsh || contains(zsh_text, option.name + after);
    CHECK(in_zsh);
    // fish: -s q, -l queue
    bool is_short = option.name.size() == 2;
    CHECK(contains(fish_text, (is_short ? "-s " : "-l ") + option.name.substr(is_short ? 1 : 2) + " "));
  }
}

TEST_CASE("shell: a fish session completes commands, every option, and config queue names") {
  ShellSandbox sandbox;
  CHECK(fish_complete(sandbox, "mq sen") == std::vector<std::string>{"send"});
  CHECK(has(fish_complete(sandbox, "mq dead"), "dead-letter"));
  CHECK(has(fish_complete(sandbox, "mq -q "), "orders-eu"));
  CHECK(has(fish_complete(sandbox, "mq -q "), "memory://"));
  CHECK(fish_complete(sandbox, "mq --backend m") == std::vector<std::string>{"memory", "mqtt"});
  CHECK(has(fish_complete(sandbox, "mq peek --format "), "payload"));
  CHECK(fish_complete(sandbox, "mq config p") == std::vector<std::string>{"path"});
  std::map<std::string, std::vector<std::string>> offered;
  for (const auto& option : listed_options()) {
    if (!offered.count(option.command)) offered[option.command] = fish_complete(sandbox, "mq " + option.command + " -");
    INFO("mq " << option.command << " " << option.name);
    CHECK(has(offered[option.command], option.name));
  }
}

TEST_CASE("shell: a zsh session completes a command name, an option and a config queue name") {
  ShellSandbox sandbox;
  CHECK(contains(zsh_session(sandbox, "mq sen", "> mq send"), "> mq send"));
  CHECK(contains(zsh_session(sandbox, "mq receive --pre", "--pretty"), "> mq receive --pretty"));
  CHECK(contains(zsh_session(sandbox, "mq -q orde", "orders-eu"), "> mq -q orders-eu"));
}
