#include "mq/config.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mq/error.hpp"

namespace mq {

void ConfigParams::merge(const ConfigParams& over) {
  for (const auto& [key, value] : over.entries_) entries_[key] = value;
}

std::optional<std::string> ConfigParams::get(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::string ConfigParams::get_string(const std::string& key, const std::string& fallback) const {
  return get(key).value_or(fallback);
}

std::optional<long long> ConfigParams::get_int(const std::string& key) const {
  auto value = get(key);
  if (!value) return std::nullopt;
  long long number = 0;
  auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), number);
  if (error != std::errc{} || end != value->data() + value->size())
    throw ConfigError(fmt::format("{}: expected an integer, got \"{}\"", key, *value));
  return number;
}

long long ConfigParams::get_int(const std::string& key, long long fallback) const {
  return get_int(key).value_or(fallback);
}

bool ConfigParams::get_bool(const std::string& key, bool fallback) const {
  auto value = get(key);
  if (!value) return fallback;
  std::string lower;
  for (char c : *value) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  throw ConfigError(fmt::format("{}: expected true or false, got \"{}\"", key, *value));
}

Duration ConfigParams::get_millis(const std::string& key, Duration fallback) const {
  auto millis = get_int(key);
  return millis ? Duration{*millis} : fallback;
}

Duration parse_duration(std::string_view text) {
  double number = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc{} || number < 0)
    throw ConfigError(fmt::format("\"{}\" is not a duration (e.g. 500ms, 5s, 2m)", text));
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  double scale;
  if (unit.empty() || unit == "s") scale = 1000;
  else if (unit == "ms") scale = 1;
  else if (unit == "m" || unit == "min") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else throw ConfigError(fmt::format("\"{}\" is not a duration (units: ms, s, m, h)", text));
  return Duration{static_cast<std::int64_t>(number * scale + 0.5)};
}

bool looks_like_uri(std::string_view text) { return text.find("://") != std::string_view::npos; }

namespace {

std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() + 0 && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Query parameters may use a key's last part ("qos" for "options.qos").
std::string canonical_key(const std::string& key) {
  static const char* const top_level[] = {"backend", "topic", "group_id", "from_beginning", "read_partitions",
                                          "autocommit", "name"};
  if (key.find('.') != std::string::npos) return key;
  for (const char* known : top_level)
    if (key == known) return key;
  if (key == "username" || key == "password") return "credential." + key;
  if (key == "host" || key == "port" || key == "protocol") return "connection." + key;
  return "options." + key;
}

struct HostPort {
  std::string host;
  std::optional<std::string> port;
};

HostPort split_host_port(std::string_view text, std::string_view uri) {
  HostPort result;
  if (!text.empty() && text.front() == '[') {  // [::1]:1883
    auto close = text.find(']');
    if (close == std::string_view::npos) throw ConfigError(fmt::format("{}: unclosed '[' in host", uri));
    result.host = std::string(text.substr(1, close - 1));
    text.remove_prefix(close + 1);
    if (!text.empty()) {
      if (text.front() != ':') throw ConfigError(fmt::format("{}: bad host \"{}\"", uri, text));
      result.port = std::string(text.substr(1));
    }
  } else {
    auto colon = text.rfind(':');
    result.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) result.port = std::string(text.substr(colon + 1));
  }
  if (result.port) {
    int port = 0;
    auto [end, error] = std::from_chars(result.port->data(), result.port->data() + result.port->size(), port);
    if (error != std::errc{} || end != result.port->data() + result.port->size() || port <= 0 || port > 65535)
      throw ConfigError(fmt::format("{}: bad port \"{}\"", uri, *result.port));
  }
  return result;
}

}  // namespace

ConfigParams parse_queue_uri(std::string_view uri) {
  auto separator = uri.find("://");
  if (separator == std::string_view::npos) throw ConfigError(fmt::format("\"{}\" is not a queue URI", uri));
  std::string scheme(uri.substr(0, separator));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = uri.substr(separator + 3);
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }

  ConfigParams params;
  if (scheme == "memory") {
    params.set("backend", "memory");
    if (!rest.empty()) params.set("topic", percent_decode(rest));
  } else if (scheme == "mqtt" || scheme == "mqtts" || scheme == "kafka") {
    params.set("backend", scheme == "kafka" ? "kafka" : "mqtt");
    params.set("connection.protocol", scheme);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos && slash + 1 < rest.size())
      params.set("topic", percent_decode(rest.substr(slash + 1)));
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
      std::string_view user = authority.substr(0, at);
      authority.remove_prefix(at + 1);
      if (auto colon = user.find(':'); colon != std::string_view::npos) {
        params.set("credential.password", percent_decode(user.substr(colon + 1)));
        user = user.substr(0, colon);
      }
      if (!user.empty()) params.set("credential.username", percent_decode(user));
    }
    std::string hosts;
    bool first = true;
    while (!authority.empty()) {
      auto comma = authority.find(',');
      auto host_port = split_host_port(authority.substr(0, comma), uri);
      if (host_port.host.empty()) throw ConfigError(fmt::format("{}: empty host", uri));
      if (first) {
        params.set("connection.host", host_port.host);
        if (host_port.port) params.set("connection.port", *host_port.port);
      }
      if (!hosts.empty()) hosts += ',';
      bool v6 = host_port.host.find(':') != std::string::npos;
      hosts += v6 ? "[" + host_port.host + "]" : host_port.host;
      if (host_port.port) hosts += ":" + *host_port.port;
      first = false;
      if (comma == std::string_view::npos) break;
      authority.remove_prefix(comma + 1);
    }
    if (!hosts.empty()) params.set("connection.hosts", hosts);
  } else {
    throw ConfigError(fmt::format("unknown URI scheme \"{}\" (memory, mqtt, mqtts, kafka)", scheme));
  }

  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      std::string key = percent_decode(pair.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "true" : percent_decode(pair.substr(eq + 1));
      params.set(canonical_key(key), value);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return params;
}

EnvLookup process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (!value || !*value) return std::nullopt;
    return std::string(value);
  };
}

namespace {

std::string expand_home(const std::string& path, const EnvLookup& env) {
  if (path.rfind("~/", 0) != 0) return path;
  return env("HOME").value_or("") + path.substr(1);
}

bool file_exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

void flatten(const nlohmann::json& value, const std::string& prefix, ConfigParams& out) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) flatten(child, prefix.empty() ? key : prefix + "." + key, out);
  } else if (value.is_string()) {
    out.set(prefix, value.get<std::string>());
  } else if (!value.is_null()) {
    out.set(prefix, value.dump());
  }
}

// An entry's "uri" (or "connection.uri") describes the queue; its other keys refine it.
ConfigParams expand_entry(const ConfigParams& entry) {
  ConfigParams result;
  for (const char* uri_key : {"uri", "connection.uri"})
    if (auto uri = entry.get(uri_key); uri && looks_like_uri(*uri)) result.merge(parse_queue_uri(*uri));
  for (const auto& [key, value] : entry.entries())
    if (key != "uri") result.set(key, value);
  return result;
}

// A password and a password file exclude each other: the layer that names
// one overrides what lower layers said of the other.
void merge_layer(ConfigParams& params, const ConfigParams& layer) {
  if (layer.contains("credential.password")) params.erase("credential.password_file");
  if (layer.contains("credential.password_file")) params.erase("credential.password");
  params.merge(layer);
}

}  // namespace

std::optional<std::string> find_config_file(const std::optional<std::string>& explicit_path, const EnvLookup& env) {
  if (explicit_path) return expand_home(*explicit_path, env);
  if (auto path = env("MQ_CONFIG")) return expand_home(*path, env);
  std::string candidate;
  if (auto xdg = env("XDG_CONFIG_HOME")) candidate = *xdg + "/mq/config.json";
  else if (auto home = env("HOME")) candidate = *home + "/.config/mq/config.json";
  else return std::nullopt;
  if (!file_exists(candidate)) return std::nullopt;
  return candidate;
}

ConfigFile load_config_file(const std::string& path) {
  std::ifstream stream(path);
  if (!stream) throw ConfigError(fmt::format("config file {}: cannot read it", path));
  std::stringstream text;
  text << stream.rdbuf();
  nlohmann::json document = nlohmann::json::parse(text.str(), nullptr, false);
  if (document.is_discarded() || !document.is_object())
    throw ConfigError(fmt::format("config file {}: not a JSON object", path));

  ConfigFile file;
  file.path = path;
  if (auto it = document.find("default"); it != document.end()) {
    if (!it->is_string()) throw ConfigError(fmt::format("config file {}: \"default\" must name a queue", path));
    file.default_queue = it->get<std::string>();
  }
  if (auto it = document.find("queues"); it != document.end()) {
    if (!it->is_object()) throw ConfigError(fmt::format("config file {}: \"queues\" must be an object", path));
    for (const auto& [name, entry] : it->items()) {
      if (!entry.is_object() && !entry.is_string())
        throw ConfigError(fmt::format("config file {}: queue \"{}\" must be an object or a URI", path, name));
      ConfigParams flat;
      if (entry.is_string()) flat.set("uri", entry.get<std::string>());
      else flatten(entry, "", flat);
      file.queues[name] = flat;
    }
  }
  if (file.default_queue && !file.queues.count(*file.default_queue))
    throw ConfigError(fmt::format("config file {}: default queue \"{}\" is not in \"queues\"", path,
                                  *file.default_queue));
  return file;
}

ResolvedConfig resolve_config(const ResolveRequest& request) {
  ResolvedConfig resolved;
  ConfigParams& params = resolved.params;
  params.set("backend", "memory");
  params.set("topic", "default");

  std::optional<ConfigFile> file;
  if (auto path = find_config_file(request.config_path, request.env)) {
    file = load_config_file(*path);
    resolved.config_file = *path;
  }
  auto entry = [&](const std::string& name) -> const ConfigParams* {
    if (!file) return nullptr;
    auto it = file->queues.find(name);
    return it == file->queues.end() ? nullptr : &it->second;
  };

  // One source chooses the queue: -q, else $MQ_QUEUE, else the file's default.
  std::optional<std::string> selector = request.queue ? request.queue : request.env("MQ_QUEUE");
  const ConfigParams* default_entry = file && file->default_queue ? entry(*file->default_queue) : nullptr;
  if (selector && looks_like_uri(*selector)) {
    merge_layer(params, parse_queue_uri(*selector));
    resolved.display_name = *selector;
  } else if (selector) {
    if (const ConfigParams* named = entry(*selector)) {
      merge_layer(params, expand_entry(*named));
    } else {
      // Not a config entry: the topic of that name on the default queue.
      if (default_entry) merge_layer(params, expand_entry(*default_entry));
      params.set("topic", *selector);
    }
    resolved.display_name = *selector;
  } else if (default_entry) {
    merge_layer(params, expand_entry(*default_entry));
    resolved.display_name = *file->default_queue;
  }

  if (auto password = request.env("MQ_PASSWORD")) merge_layer(params, ConfigParams{{"credential.password", *password}});
  merge_layer(params, request.flags);
  if (resolved.display_name.empty()) resolved.display_name = params.get_string("topic");

  if (auto path = params.get("credential.password_file")) {
    std::string expanded = expand_home(*path, request.env);
    std::ifstream stream(expanded);
    if (!stream) throw ConfigError(fmt::format("password file {}: cannot read it", expanded));
    std::string password;
    std::getline(stream, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    params.set("credential.password", password);
    struct stat info;
    if (::stat(expanded.c_str(), &info) == 0 && (info.st_mode & 077))
      resolved.warnings.push_back(
          fmt::format("password file {} can be read by group or others (chmod 600 it)", expanded));
  }
  return resolved;
}

bool is_secret_key(std::string_view key) {
  auto contains = [&](std::string_view part) { return key.find(part) != std::string_view::npos; };
  return (contains("password") && !contains("password_file")) || contains("secret") || contains("token") ||
         contains("sasl.oauthbearer.config");
}

ConfigParams masked(const ConfigParams& params) {
  ConfigParams result;
  for (const auto& [key, value] : params.entries()) result.set(key, is_secret_key(key) ? "*****" : value);
  return result;
}

}  // namespace mq
