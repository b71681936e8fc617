#include "mqtt/mqtt_settings.hpp"

#include <fmt/format.h>

#include <charconv>

#include "mq/error.hpp"

namespace mq::mqtt {

std::string Endpoint::text() const {
  bool v6 = host.find(':') != std::string::npos;
  return v6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

std::string Settings::where() const { return endpoints.empty() ? std::string("?") : endpoints.front().text(); }

std::vector<std::string> Settings::server_uris() const {
  std::vector<std::string> uris;
  for (const auto& endpoint : endpoints) uris.push_back((tls ? "ssl://" : "tcp://") + endpoint.text());
  return uris;
}

namespace {

int parse_port(const std::string& text, const std::string& key) {
  int port = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (error != std::errc{} || end != text.data() + text.size() || port <= 0 || port > 65535)
    throw ConfigError(fmt::format("{}: bad port \"{}\"", key, text));
  return port;
}

// "h:p,[::1]:p,h" as written by parse_queue_uri.
std::vector<Endpoint> parse_hosts(const std::string& list, int default_port) {
  std::vector<Endpoint> endpoints;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) {
      Endpoint endpoint{.host = item, .port = default_port};
      if (item.front() == '[') {
        auto close = item.find(']');
        if (close == std::string::npos) throw ConfigError(fmt::format("connection.hosts: bad host \"{}\"", item));
        endpoint.host = item.substr(1, close - 1);
        if (close + 1 < item.size() && item[close + 1] == ':')
          endpoint.port = parse_port(item.substr(close + 2), "connection.hosts");
      } else if (auto colon = item.rfind(':'); colon != std::string::npos) {
        endpoint.host = item.substr(0, colon);
        endpoint.port = parse_port(item.substr(colon + 1), "connection.hosts");
      }
      endpoints.push_back(endpoint);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return endpoints;
}

std::optional<std::string> non_empty(const ConfigParams& config, const std::string& key) {
  auto value = config.get(key);
  if (value && value->empty()) return std::nullopt;
  return value;
}

}  // namespace

Settings read_settings(const ConfigParams& config) {
  Settings s;
  s.topic = config.get_string("topic");
  if (s.topic.empty()) throw ConfigError("mqtt: no topic (put it in the URI, mqtt://HOST/TOPIC, or give --topic)");

  std::string protocol = config.get_string("connection.protocol", "mqtt");
  if (protocol == "mqtts" || protocol == "ssl" || protocol == "tls") s.tls = true;
  else if (protocol != "mqtt" && protocol != "tcp")
    throw ConfigError(fmt::format("connection.protocol: \"{}\" is neither mqtt nor mqtts", protocol));
  int default_port = s.tls ? 8883 : 1883;

  // An explicit connection.host/port (a flag) wins over the URI's host list.
  std::string host = config.get_string("connection.host", "localhost");
  auto port_text = config.get("connection.port");
  int port = port_text ? parse_port(*port_text, "connection.port") : default_port;
  if (auto hosts = config.get("connection.hosts"); hosts && !hosts->empty()) {
    s.endpoints = parse_hosts(*hosts, default_port);
    if (!s.endpoints.empty() && (s.endpoints.front().host != host || (port_text && s.endpoints.front().port != port)))
      s.endpoints.front() = Endpoint{host, port};
  }
  if (s.endpoints.empty()) s.endpoints.push_back(Endpoint{host, port});

  s.username = non_empty(config, "credential.username");
  s.password = config.get("credential.password");

  s.qos = static_cast<int>(config.get_int("options.qos", 0));
  if (s.qos < 0 || s.qos > 2) throw ConfigError(fmt::format("options.qos: {} is not 0, 1 or 2", s.qos));
  s.retain = config.get_bool("options.retain", false);
  s.serialize_envelope = config.get_bool("options.serialize_envelope", false);
  s.retry_connect = config.get_bool("options.retry_connect", true);
  s.connect_timeout = config.get_millis("options.connect_timeout", s.connect_timeout);
  s.reconnect_timeout = config.get_millis("options.reconnect_timeout", s.reconnect_timeout);
  s.keepalive = config.get_millis("options.keepalive_timeout", s.keepalive);
  for (auto [key, value] : {std::pair{"options.connect_timeout", s.connect_timeout},
                            std::pair{"options.reconnect_timeout", s.reconnect_timeout},
                            std::pair{"options.keepalive_timeout", s.keepalive}})
    if (value.count() < 0) throw ConfigError(fmt::format("{}: must not be negative", key));

  s.client_id = non_empty(config, "options.client_id");
  if (s.client_id && s.client_id->size() > 65535) throw ConfigError("options.client_id: too long");
  s.clean_session = config.get_bool("options.clean_session", !s.client_id.has_value());

  std::string version = config.get_string("options.protocol_version", "3.1.1");
  if (version == "3.1.1" || version == "4" || version == "311") s.protocol_version = 4;
  else if (version == "5" || version == "5.0") s.protocol_version = 5;
  else throw ConfigError(fmt::format("options.protocol_version: \"{}\" is neither 3.1.1 nor 5", version));

  s.cafile = non_empty(config, "options.cafile");
  s.cert = non_empty(config, "options.cert");
  s.key = non_empty(config, "options.key");
  s.insecure = config.get_bool("options.insecure", false);
  if (s.key && !s.cert) throw ConfigError("options.key: a private key needs a certificate (options.cert)");

  if (auto window = config.get_int("options.max_inflight")) {
    if (*window < 1 || *window > 65535) throw ConfigError("options.max_inflight: must be between 1 and 65535");
    s.max_inflight = static_cast<std::size_t>(*window);
  }
  return s;
}

void check_topic_name(const std::string& topic) {
  if (topic.find_first_of("+#") != std::string::npos)
    throw ConfigError(fmt::format("topic \"{}\": cannot send to a filter with wildcards (+, #)", topic));
  if (topic.find('\0') != std::string::npos) throw ConfigError("topic: contains a NUL character");
}

void check_topic_filter(const std::string& filter) {
  std::size_t start = 0;
  while (true) {
    auto slash = filter.find('/', start);
    std::string_view level(filter.data() + start, (slash == std::string::npos ? filter.size() : slash) - start);
    bool last = slash == std::string::npos;
    if (level.find('#') != std::string_view::npos && (level != "#" || !last))
      throw ConfigError(fmt::format("topic filter \"{}\": '#' must be the whole last level", filter));
    if (level.find('+') != std::string_view::npos && level != "+")
      throw ConfigError(fmt::format("topic filter \"{}\": '+' must be a whole level", filter));
    if (last) break;
    start = slash + 1;
  }
  if (filter.find('\0') != std::string::npos) throw ConfigError("topic: contains a NUL character");
}

}  // namespace mq::mqtt
