// mq config: the named queues of the config file; mq config path: which file that is.

#include <sys/stat.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"

namespace mq::cli {

namespace {

// The file mq would read when none exists yet: where to create one.
std::string default_location(const EnvLookup& env) {
  if (auto xdg = env("XDG_CONFIG_HOME")) return *xdg + "/mq/config.json";
  return env("HOME").value_or("~") + "/.config/mq/config.json";
}

std::string shown_value(const std::string& key, const std::string& value) {
  return key == "uri" || key == "connection.uri" ? masked_uri(value) : value;
}

struct ListOptions {
  bool json = false;
  bool names = false;
};

int run_config_list(const QueueOptions& queue_options, const ListOptions& options) {
  auto env = process_environment();
  auto path = find_config_file(queue_options.config_path, env);
  if (!path) {
    // Completion scripts ask for names in every shell: no file, no names, no noise.
    if (!options.names)
      fmt::print(stderr, "mq: config: no config file (create {} or set MQ_CONFIG)\n", default_location(env));
    return 0;
  }
  ConfigFile file = load_config_file(*path);
  if (options.names) {
    for (const auto& [name, params] : file.queues) fmt::print("{}\n", name);
    return 0;
  }
  bool json = options.json;
  if (json) {
    nlohmann::ordered_json document;
    document["path"] = file.path;
    document["default"] = file.default_queue ? nlohmann::ordered_json(*file.default_queue) : nullptr;
    auto& queues = document["queues"] = nlohmann::ordered_json::object();
    for (const auto& [name, params] : file.queues) {
      auto& entry = queues[name] = nlohmann::ordered_json::object();
      ConfigParams shown = masked(params);
      for (const auto& [key, value] : shown.entries()) entry[key] = shown_value(key, value);
    }
    fmt::print("{}\n", document.dump(2));
    return 0;
  }
  for (const auto& [name, params] : file.queues) {
    fmt::print("{}{}\n", name, file.default_queue == name ? " (default)" : "");
    ConfigParams shown = masked(params);
    for (const auto& [key, value] : shown.entries()) fmt::print("  {} = {}\n", key, shown_value(key, value));
  }
  return 0;
}

int run_config_path(const QueueOptions& queue_options) {
  auto env = process_environment();
  auto path = find_config_file(queue_options.config_path, env);
  std::string shown = path.value_or(default_location(env));
  fmt::print("{}\n", shown);
  struct stat info;
  if (::stat(shown.c_str(), &info) != 0) fmt::print(stderr, "mq: warning: {} does not exist\n", shown);
  return 0;
}

}  // namespace

Command register_config(CLI::App& parent, const QueueOptions& queue) {
  auto options = std::make_shared<ListOptions>();
  auto* app = parent.add_subcommand("config", "List the named queues of the config file (secrets masked)");
  app->add_flag("--json", options->json, "Print them as JSON");
  app->add_flag("--names", options->names, "Print only their names, one a line (for scripts and completions)");
  app->require_subcommand(0, 1);
  auto* path = app->add_subcommand("path", "Print which config file is read (or would be: where to create it)");
  path->footer(help_footer("A warning on stderr says when the file does not exist.",
                           {"mq config path", "$EDITOR \"$(mq config path)\""}));
  app->footer(help_footer(
      "The file: --config FILE, else $MQ_CONFIG, else $XDG_CONFIG_HOME/mq/config.json\n"
      "(~/.config/mq/config.json). Passwords show as *****.",
      {"mq config", "mq --config ./queues.json config --json",
       "for q in $(mq config --names); do echo \"$q: $(mq -q \"$q\" count)\"; done"}));
  return {app, [options, path, &queue] {
            return path->parsed() ? run_config_path(queue) : run_config_list(queue, *options);
          }};
}

}  // namespace mq::cli
