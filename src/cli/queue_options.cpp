#include "cli/queue_options.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "mq/error.hpp"
#include "mq/narrate.hpp"

namespace mq::cli {

namespace {

CLI::Option* add_text(CLI::App& app, const std::string& names, std::optional<std::string>& target,
                      const std::string& description, const std::string& type_name) {
  auto* option = app.add_option_function<std::string>(
      names, [&target](const std::string& value) { target = value; }, description);
  option->type_name(type_name);
  option->group("Queue options");
  return option;
}

// Error lines are single lines, whatever a library put into its message.
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return text;
}

// What --verbose must never show, learnt as configurations are resolved.
struct Secrets {
  std::mutex mutex;
  std::vector<std::string> values;

  void add(const ConfigParams& params) {
    std::lock_guard lock(mutex);
    for (const auto& [key, value] : params.entries())
      if (is_secret_key(key) && !value.empty() &&
          std::find(values.begin(), values.end(), value) == values.end())
        values.push_back(value);
  }

  std::string blot(std::string line) {
    std::lock_guard lock(mutex);
    for (const auto& secret : values)
      for (auto at = line.find(secret); at != std::string::npos; at = line.find(secret, at + 5))
        line.replace(at, secret.size(), "*****");
    return line;
  }
};

Secrets& secrets() {
  static Secrets instance;
  return instance;
}

}  // namespace

void start_narration() {
  auto start = std::chrono::steady_clock::now();
  set_narrator([start](std::string_view line) {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string text = fmt::format("mq: [+{:.3f}s] {}\n", seconds, one_line(secrets().blot(std::string(line))));
    // One write per line: lines from several threads do not interleave.
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, text.data(), text.size());
  });
}

void add_queue_options(CLI::App& app, QueueOptions& options) {
  add_text(app, "-q,--queue", options.queue,
           "Queue URI (memory://NAME, mqtt://HOST/TOPIC, kafka://HOST/TOPIC) or config entry name", "URI|NAME");
  add_text(app, "--config", options.config_path, "Config file (default $MQ_CONFIG, ~/.config/mq/config.json)",
           "FILE");
  add_text(app, "--backend", options.backend, "Backend: memory, mqtt or kafka", "NAME");
  add_text(app, "-t,--topic", options.topic, "Topic (queue name); MQTT filters may hold + and #", "TOPIC");
  add_text(app, "--host", options.host, "Broker host", "HOST");
  add_text(app, "--port", options.port, "Broker port", "PORT");
  add_text(app, "--username", options.username, "User name", "USER");
  add_text(app, "--password-file", options.password_file, "File whose first line is the password", "FILE");
  add_text(app, "--group", options.group, "Consumer group (key group_id)", "GROUP");
  add_text(app, "--qos", options.qos, "MQTT quality of service 0, 1 or 2 (key options.qos)", "QOS");
  add_text(app, "--client-id", options.client_id, "Client id (key options.client_id)", "ID");
  add_text(app, "--connect-timeout", options.connect_timeout, "How long to wait for a connection (5s, 500ms)",
           "DURATION");
  add_text(app, "--cafile", options.cafile, "CA certificates to verify the broker with (TLS)", "FILE");
  add_text(app, "--cert", options.cert, "Client certificate (TLS)", "FILE");
  // After `send`, --key is the record key (spec); --tls-key is never ambiguous.
  add_text(app, "--key,--tls-key", options.key, "Client private key (TLS)", "FILE");
  app.add_flag("--insecure", options.insecure, "Do not verify the broker's certificate or host name (TLS)")
      ->group("Queue options");
  app.add_option("--set", options.settings, "Any configuration key, e.g. --set kafka.acks=all (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false)
      ->group("Queue options");
  app.add_flag("-v,--verbose", options.verbose,
               "Narrate on stderr: the queue and settings used, connection steps and timings (never a secret)")
      ->group("Queue options");
}

ResolveRequest make_resolve_request(const QueueOptions& options) {
  ResolveRequest request;
  request.queue = options.queue;
  request.config_path = options.config_path;
  ConfigParams& flags = request.flags;
  auto set = [&](const char* key, const std::optional<std::string>& value) {
    if (value) flags.set(key, *value);
  };
  set("backend", options.backend);
  set("topic", options.topic);
  set("connection.host", options.host);
  set("connection.port", options.port);
  set("credential.username", options.username);
  set("credential.password_file", options.password_file);
  set("group_id", options.group);
  set("options.qos", options.qos);
  set("options.client_id", options.client_id);
  set("options.cafile", options.cafile);
  set("options.cert", options.cert);
  set("options.key", options.key);
  if (options.insecure) flags.set("options.insecure", "true");
  if (options.connect_timeout)
    flags.set("options.connect_timeout", std::to_string(parse_duration(*options.connect_timeout).count()));
  // An explicit key is the most specific thing a user can say, so --set wins.
  for (const auto& setting : options.settings) {
    auto eq = setting.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError(fmt::format("--set expects KEY=VALUE, got \"{}\"", setting));
    flags.set(setting.substr(0, eq), setting.substr(eq + 1));
  }
  return request;
}

ResolvedConfig resolve(const QueueOptions& options) {
  ResolveRequest request = make_resolve_request(options);
  ResolvedConfig resolved = resolve_config(request);
  // --host/--port name one broker, replacing a list that a URI gave.
  ConfigParams& params = resolved.params;
  if ((request.flags.contains("connection.host") || request.flags.contains("connection.port")) &&
      params.contains("connection.hosts") && params.contains("connection.host")) {
    std::string host = params.get_string("connection.host");
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    if (auto port = params.get("connection.port")) host += ":" + *port;
    params.set("connection.hosts", host);
  }
  for (const auto& warning : resolved.warnings) print_warning(warning);
  if (narrating()) {
    secrets().add(params);
    narrate("queue: {}", masked_uri(resolved.display_name));
    narrate("config file: {}", resolved.config_file.value_or("(none)"));
    ConfigParams shown = masked(params);
    for (const auto& [key, value] : shown.entries())
      narrate("setting: {} = {}", key, key == "connection.uri" ? masked_uri(value) : value);
  }
  return resolved;
}

std::unique_ptr<Queue> open(const QueueOptions& options) {
  ResolvedConfig resolved = resolve(options);
  Stopwatch opening;
  auto queue = open_queue(resolved.params);
  narrate("opened the {} queue in {}", queue->backend(), opening.text());
  return queue;
}

void require(const Queue& queue, bool Capabilities::*flag) {
  if (queue.capabilities().*flag) return;
  for (const auto& row : capability_table())
    if (row.flag == flag) throw UnsupportedError(queue.backend(), row.name);
  throw UnsupportedError(queue.backend(), "this operation");
}

std::string masked_uri(const std::string& uri) {
  auto scheme_end = uri.find("://");
  if (scheme_end == std::string::npos) return uri;
  std::string result = uri;
  auto authority_start = scheme_end + 3;
  auto authority_end = result.find_first_of("/?", authority_start);
  if (authority_end == std::string::npos) authority_end = result.size();
  auto at = result.rfind('@', authority_end);
  if (at != std::string::npos && at >= authority_start) {
    auto colon = result.find(':', authority_start);
    if (colon != std::string::npos && colon < at) result = result.substr(0, colon + 1) + "*****" + result.substr(at);
  }
  // Query parameters are configuration keys, secrets among them.
  auto query = result.find('?');
  if (query == std::string::npos) return result;
  std::string masked_query;
  std::string_view rest = std::string_view(result).substr(query + 1);
  while (true) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (!masked_query.empty()) masked_query += '&';
    if (eq != std::string_view::npos && is_secret_key(pair.substr(0, eq)))
      masked_query += std::string(pair.substr(0, eq + 1)) + "*****";
    else
      masked_query += pair;
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return result.substr(0, query + 1) + masked_query;
}

void print_error(const std::string& what, const std::string& why) {
  fmt::print(stderr, "mq: {}: {}\n", what, one_line(why));
}

void print_warning(const std::string& why) { fmt::print(stderr, "mq: warning: {}\n", one_line(why)); }

}  // namespace mq::cli
