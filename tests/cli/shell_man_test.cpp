// The man page: it renders without warnings and documents every option that
// mq and its commands accept, as the program itself lists them.

#include <regex>

#include "shell_support.hpp"

using namespace mqtest;
using namespace shelltest;

namespace {

std::string man_source() { return read_file(std::filesystem::path(MQ_SOURCE_DIR) / "man" / "mq.1"); }

// Roff source as a reader sees its words: \- is -, font changes vanish.
std::string plain(std::string text) {
  text = std::regex_replace(text, std::regex(R"(\\f(\[[A-Z]*\]|[BIRP]))"), "");
  text = std::regex_replace(text, std::regex(R"(\\-)"), "-");
  text = std::regex_replace(text, std::regex(R"(\\\(aq)"), "'");
  text = std::regex_replace(text, std::regex(R"(\\\(dq)"), "\"");
  return text;
}

// Sections by title: ".SH OPTIONS" -> "OPTIONS", ".SS "mq send [OPTIONS]"" -> "mq send [OPTIONS]".
std::map<std::string, std::string> sections(const std::string& source) {
  std::map<std::string, std::string> found;
  std::string title;
  for (const auto& line : lines(plain(source))) {
    if (line.rfind(".SH ", 0) == 0 || line.rfind(".SS ", 0) == 0) {
      title = line.substr(4);
      if (title.size() >= 2 && title.front() == '"') title = title.substr(1, title.size() - 2);
      continue;
    }
    found[title] += line + "\n";
  }
  return found;
}

// "mq send [OPTIONS] [MESSAGE...]" -> "send"; "mq config path" -> "config path".
std::string command_of(const std::string& title) {
  if (title.rfind("mq ", 0) != 0) return {};
  std::string command;
  for (const auto& word : split(title.substr(3), ' ')) {
    if (word.empty() || !std::regex_match(word, std::regex("[a-z][a-z-]*"))) break;
    command += (command.empty() ? "" : " ") + word;
  }
  return command;
}

bool mentions(const std::string& text, const std::string& option) {
  // The option as a word of its own: "-d" is not the start of "--delimiter" or "-dry".
  std::regex word("(^|[^-A-Za-z0-9_])" + std::regex_replace(option, std::regex("[-]"), "\\-") + "($|[^-A-Za-z0-9_])");
  return std::regex_search(text, word);
}

}  // namespace

TEST_CASE("shell: man --warnings renders man/mq.1 without a word") {
  Sandbox sandbox;
  auto path = (std::filesystem::path(MQ_SOURCE_DIR) / "man" / "mq.1").string();
  auto rendered = sandbox.sh("MANWIDTH=80 man --warnings -l '" + path + "' > /dev/null");
  INFO(rendered.err);
  REQUIRE(rendered.exit_code == 0);
  REQUIRE(rendered.err.empty());
  auto text = sandbox.sh("MANWIDTH=80 man -l '" + path + "' 2>&1 | col -b");
  REQUIRE(text.exit_code == 0);
  for (const char* heading : {"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "CONFIGURATION", "ENVIRONMENT",
                              "FILES", "EXIT STATUS", "EXAMPLES"})
    CHECK(contains(text.out, std::string("\n") + heading + "\n"));
}

TEST_CASE("shell: every option of mq and of each command is in the man page, in its command's section") {
  auto by_title = sections(man_source());
  std::map<std::string, std::string> by_command;
  for (const auto& [title, text] : by_title)
    if (auto command = command_of(title); !command.empty()) by_command[command] += text;

  for (const auto& command : command_names()) {
    INFO("command " << command);
    CHECK(by_command.count(command) == 1);
  }
  CHECK(by_command.count("config path") == 1);

  std::size_t checked = 0;
  for (const auto& option : listed_options()) {
    std::string where = option.command.empty() ? "OPTIONS" : option.command;
    const std::string& text = option.command.empty() ? by_title["OPTIONS"] : by_command[option.command];
    INFO("mq " << option.command << " " << option.name << " should be in the man page's section " << where);
    CHECK(mentions(text, option.name));
    if (!option.value.empty() && option.command.empty()) {
      // The global options name their value as the program's help does.
      auto value = split(option.value, ':').front();
      CHECK(contains(text, value));
    }
    ++checked;
  }
  REQUIRE(checked > 40);
}

TEST_CASE("shell: the man page has the environment, exit codes and configuration keys") {
  auto by_title = sections(man_source());
  for (const char* variable : {"MQ_QUEUE", "MQ_CONFIG", "MQ_PASSWORD", "MQ_MEMORY_DIR", "XDG_CONFIG_HOME", "NO_COLOR"})
    CHECK(mentions(by_title["ENVIRONMENT"], variable));
  for (const char* code : {"0", "1", "2", "3", "4", "5"}) CHECK(contains(by_title["EXIT STATUS"], std::string(".B ") + code));
  std::string configuration = by_title["CONFIGURATION"] + by_title["Keys of every backend"] + by_title["Memory keys"] +
                              by_title["MQTT keys"] + by_title["Kafka keys"];
  for (const char* key :
       {"backend", "topic", "group_id", "from_beginning", "read_partitions", "autocommit", "connection.host",
        "connection.port", "connection.hosts", "connection.protocol", "connection.uri", "credential.username",
        "credential.password", "credential.password_file", "options.serialize_envelope", "options.autosubscribe",
        "options.qos", "options.retain", "options.retry_connect", "options.connect_timeout",
        "options.reconnect_timeout", "options.keepalive_timeout", "options.acks", "options.log_level",
        "options.max_retries", "options.retry_timeout", "options.request_timeout", "options.session_timeout",
        "options.store_dir", "options.dead_letter_queue", "options.client_id", "options.clean_session",
        "options.protocol_version", "options.cafile", "options.cert", "options.key", "options.insecure",
        "options.max_inflight", "kafka."})
    CHECK(contains(configuration, key));
  auto examples = by_title["EXAMPLES"] + by_title["Scripting"] + by_title["Debugging"] + by_title["CI"];
  CHECK(contains(examples, "mq -v"));
  CHECK(contains(examples, "MQ_PASSWORD"));
}
