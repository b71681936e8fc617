// mq info: the resolved configuration (secrets masked) and the backend's capabilities.

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "mq/error.hpp"

namespace mq::cli {

namespace {

std::string shown_value(const std::string& key, const std::string& value) {
  return key == "connection.uri" || key == "uri" ? masked_uri(value) : value;
}

int run_info(const QueueOptions& queue_options, bool json) {
  ResolvedConfig resolved = resolve(queue_options);
  ConfigParams shown = masked(resolved.params);
  // The configuration is worth seeing most when the queue cannot be reached:
  // print it, then report the failure.
  std::unique_ptr<Queue> queue;
  std::exception_ptr open_failure;
  try {
    queue = open_queue(resolved.params);
  } catch (const BrokerError&) {
    open_failure = std::current_exception();
  }
  std::string backend = queue ? queue->backend() : resolved.params.get_string("backend");

  if (json) {
    nlohmann::ordered_json document;
    document["queue"] = masked_uri(resolved.display_name);
    document["backend"] = backend;
    document["config_file"] = resolved.config_file ? nlohmann::ordered_json(*resolved.config_file) : nullptr;
    auto& configuration = document["configuration"] = nlohmann::ordered_json::object();
    for (const auto& [key, value] : shown.entries()) configuration[key] = shown_value(key, value);
    auto& table = document["capabilities"] = nullptr;
    if (queue) {
      table = nlohmann::ordered_json::object();
      for (const auto& row : capability_table()) table[row.name] = queue->capabilities().*row.flag;
    }
    fmt::print("{}\n", document.dump(2));
  } else {
    std::size_t width = 0;
    for (const auto& [key, value] : shown.entries()) width = std::max(width, key.size());
    for (const auto& row : capability_table()) width = std::max(width, std::string_view(row.name).size());
    fmt::print("queue:       {}\n", masked_uri(resolved.display_name));
    fmt::print("backend:     {}\n", backend);
    fmt::print("config file: {}\n", resolved.config_file.value_or("(none)"));
    fmt::print("\nconfiguration:\n");
    for (const auto& [key, value] : shown.entries()) fmt::print("  {:<{}}  {}\n", key, width, shown_value(key, value));
    if (queue) {
      fmt::print("\ncapabilities:\n");
      for (const auto& row : capability_table())
        fmt::print("  {:<{}}  {}\n", row.name, width, queue->capabilities().*row.flag ? "supported" : "not supported");
    }
  }
  std::fflush(stdout);
  if (open_failure) std::rethrow_exception(open_failure);
  return 0;
}

}  // namespace

Command register_info(CLI::App& parent, const QueueOptions& queue) {
  auto json = std::make_shared<bool>(false);
  auto* app = parent.add_subcommand("info", "Show the resolved configuration (secrets masked) and what the backend supports");
  app->add_flag("--json", *json, "Print it as JSON");
  app->footer(help_footer("Queue options (see mq --help) may follow the command name.",
                          {"mq -q orders info", "mq -q mqtt://localhost/sensors/%23 info --json",
                           "mq -q orders --set options.acks=1 info -v"}));
  return {app, [json, &queue] { return run_info(queue, *json); }};
}

}  // namespace mq::cli
