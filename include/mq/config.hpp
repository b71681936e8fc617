#pragma once
// Configuration: the seeds' dotted keys as one flat map (like pip-services'
// ConfigParams), and the resolution of flags, URI, environment and config
// file into it, in the spec's precedence order.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/envelope.hpp"

namespace mq {

class ConfigParams {
 public:
  ConfigParams() = default;
  ConfigParams(std::initializer_list<std::pair<const std::string, std::string>> entries)
      : entries_(entries) {}

  void set(const std::string& key, std::string value) { entries_[key] = std::move(value); }
  void erase(const std::string& key) { entries_.erase(key); }
  bool contains(const std::string& key) const { return entries_.count(key) != 0; }
  // Every key of `over` replaces ours.
  void merge(const ConfigParams& over);

  std::optional<std::string> get(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback = {}) const;
  // These throw ConfigError naming the key when the value has the wrong shape.
  std::optional<long long> get_int(const std::string& key) const;
  long long get_int(const std::string& key, long long fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  // Keys hold milliseconds, as in the seeds.
  Duration get_millis(const std::string& key, Duration fallback) const;

  const std::map<std::string, std::string>& entries() const { return entries_; }

 private:
  std::map<std::string, std::string> entries_;
};

// "500ms", "5s", "2m", "1h"; a bare number is seconds. Throws ConfigError.
Duration parse_duration(std::string_view text);

// True for "scheme://...".
bool looks_like_uri(std::string_view text);

// memory://NAME, mqtt[s]://[USER@]HOST[:PORT]/TOPIC?k=v, kafka://H[:P][,H:P]/TOPIC?k=v
// into keys: backend, topic, connection.protocol, connection.host,
// connection.port, connection.hosts ("h:p,h:p"), credential.username and
// the query parameters verbatim. Throws ConfigError.
ConfigParams parse_queue_uri(std::string_view uri);

struct ConfigFile {
  std::string path;
  std::optional<std::string> default_queue;
  std::map<std::string, ConfigParams> queues;  // nested JSON flattened to dotted keys
};

using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup process_environment();

// --config, else $MQ_CONFIG, else $XDG_CONFIG_HOME/mq/config.json, else
// ~/.config/mq/config.json. nullopt when none is named and the default is absent.
std::optional<std::string> find_config_file(const std::optional<std::string>& explicit_path,
                                            const EnvLookup& env);
ConfigFile load_config_file(const std::string& path);

struct ResolveRequest {
  std::optional<std::string> queue;        // -q/--queue: a URI or a config entry name
  std::optional<std::string> config_path;  // --config
  ConfigParams flags;                      // --backend, --topic, ..., --set KEY=VALUE
  EnvLookup env = process_environment();
};

struct ResolvedConfig {
  ConfigParams params;
  std::optional<std::string> config_file;  // the file that was read, if any
  std::string display_name;                // config entry name, URI or topic
  std::vector<std::string> warnings;       // for stderr, e.g. a readable password file
};

// Layers, later winning: defaults; the config entry (-q NAME, $MQ_QUEUE name
// or "default"); $MQ_QUEUE as URI and $MQ_PASSWORD; -q URI; flags.
// A name that is no config entry is taken as the topic of the default queue.
ResolvedConfig resolve_config(const ResolveRequest& request);

bool is_secret_key(std::string_view key);
ConfigParams masked(const ConfigParams& params);

}  // namespace mq
