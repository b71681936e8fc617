#include "kafka/kafka_client.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "mq/error.hpp"

namespace mq::kafka {

namespace {

constexpr const char* kafka_prefix = "kafka.";

int positive_int(const ConfigParams& config, const std::string& key, long long fallback, long long minimum = 1) {
  long long value = config.get_int(key, fallback);
  if (value < minimum || value > 2'147'483'647)
    throw ConfigError(fmt::format("{}: expected a number from {}, got {}", key, minimum, value));
  return static_cast<int>(value);
}

Duration millis_key(const ConfigParams& config, const std::string& key, Duration fallback) {
  Duration value = config.get_millis(key, fallback);
  if (value.count() <= 0 || value.count() > 2'147'483'647)
    throw ConfigError(fmt::format("{}: expected a positive number of milliseconds, got {}", key, value.count()));
  return value;
}

// librdkafka takes syslog levels; the seeds count 0 none .. 4 debug.
int syslog_level(int seed_level) {
  static constexpr int levels[] = {0, 3, 4, 6, 7};
  return levels[std::clamp(seed_level, 0, 4)];
}

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value, const std::string& key) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
    throw ConfigError(fmt::format("{}: {}", key, errstr));
}

void on_log(const rd_kafka_t* handle, int level, const char*, const char* message) {
  if (auto* events = static_cast<ClientEvents*>(rd_kafka_opaque(handle))) events->record_log(level, message);
}

void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
  if (auto* events = static_cast<ClientEvents*>(opaque))
    events->record_error(static_cast<rd_kafka_resp_err_t>(err), reason);
}

// "[thrd:127.0.0.1:9092/bootstrap]: 127.0.0.1:9092/bootstrap: Connect to
// ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)"
// -> "Connect to ipv4#127.0.0.1:9092 failed: Connection refused"
std::string tidy_reason(std::string reason) {
  // Drop the thread and broker names in front.
  while (true) {
    auto colon = reason.find(": ");
    if (colon == std::string::npos) break;
    std::string_view head(reason.data(), colon);
    bool names_a_broker = head.find('/') != std::string_view::npos && head.find(' ') == std::string_view::npos;
    if (!names_a_broker) break;
    reason.erase(0, colon + 2);
  }
  if (auto after = reason.find(" (after "); after != std::string::npos && reason.back() == ')') reason.erase(after);
  return reason;
}

}  // namespace

Settings read_settings(const ConfigParams& config) {
  Settings settings;
  settings.topic = config.get_string("topic");
  if (settings.topic.empty()) throw ConfigError("topic: a Kafka queue needs a topic");
  settings.group_id = config.get_string("group_id", "default");
  if (settings.group_id.empty()) throw ConfigError("group_id: must not be empty");
  settings.from_beginning = config.get_bool("from_beginning", true);
  settings.read_partitions = positive_int(config, "read_partitions", 1);
  settings.autocommit = config.get_bool("autocommit", true);

  if (auto hosts = config.get("connection.hosts"); hosts && !hosts->empty()) {
    settings.bootstrap = *hosts;
    // A host given without a port gets Kafka's.
    std::string with_ports;
    std::size_t start = 0;
    while (start <= hosts->size()) {
      auto comma = hosts->find(',', start);
      std::string host = hosts->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      bool has_port = host.rfind(':') != std::string::npos && (host.front() != '[' || host.back() != ']');
      if (!host.empty()) with_ports += (with_ports.empty() ? "" : ",") + host + (has_port ? "" : ":9092");
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    settings.bootstrap = with_ports;
  } else {
    std::string host = config.get_string("connection.host", "localhost");
    int port = positive_int(config, "connection.port", 9092);
    if (port > 65535) throw ConfigError(fmt::format("connection.port: {} is not a port", port));
    bool v6 = host.find(':') != std::string::npos && host.front() != '[';
    settings.bootstrap = fmt::format("{}:{}", v6 ? "[" + host + "]" : host, port);
  }

  settings.acks = static_cast<int>(config.get_int("options.acks", -1));
  if (settings.acks < -1 || settings.acks > 1)
    throw ConfigError(fmt::format("options.acks: expected -1 (all), 0 or 1, got {}", settings.acks));
  settings.log_level = static_cast<int>(config.get_int("options.log_level", 1));
  settings.connect_timeout = millis_key(config, "options.connect_timeout", Duration{1000});
  settings.request_timeout = millis_key(config, "options.request_timeout", Duration{30000});
  if (config.contains("options.max_retries")) settings.max_retries = positive_int(config, "options.max_retries", 5, 0);
  if (config.contains("options.retry_timeout"))
    settings.retry_timeout = millis_key(config, "options.retry_timeout", Duration{30000});
  settings.session_timeout = millis_key(config, "options.session_timeout", Duration{6000});

  if (auto user = config.get("credential.username"); user && !user->empty()) settings.username = *user;
  if (auto password = config.get("credential.password")) settings.password = *password;

  for (const auto& [key, value] : config.entries())
    if (key.rfind(kafka_prefix, 0) == 0 && key.size() > std::char_traits<char>::length(kafka_prefix))
      settings.properties.emplace_back(key.substr(std::char_traits<char>::length(kafka_prefix)), value);
  // Refuse a property librdkafka does not know now, not at the first send.
  make_conf(settings, Role::consumer, nullptr);
  make_conf(settings, Role::producer, nullptr);
  return settings;
}

void ClientEvents::record_error(rd_kafka_resp_err_t err, const char* reason) {
  std::lock_guard lock(mutex_);
  if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED)
    authentication_failed_ = true;
  // "1/1 brokers are down" says less than the connection failure before it.
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !last_error_.empty()) return;
  last_error_ = tidy_reason(reason ? reason : rd_kafka_err2str(err));
}

void ClientEvents::record_log(int level, const char* message) {
  if (level > 4 || !message) return;
  std::lock_guard lock(mutex_);
  last_log_ = tidy_reason(message);
}

std::string ClientEvents::reason() const {
  std::lock_guard lock(mutex_);
  return last_error_.empty() ? last_log_ : last_error_;
}

bool ClientEvents::authentication_failed() const {
  std::lock_guard lock(mutex_);
  return authentication_failed_;
}

PartitionList make_partition_list(int capacity) { return PartitionList(rd_kafka_topic_partition_list_new(capacity)); }

Conf make_conf(const Settings& settings, Role role, ClientEvents* events) {
  Conf conf(rd_kafka_conf_new());
  rd_kafka_conf_t* c = conf.get();
  rd_kafka_conf_set_opaque(c, events);
  rd_kafka_conf_set_log_cb(c, on_log);
  rd_kafka_conf_set_error_cb(c, on_error);
  set(c, "bootstrap.servers", settings.bootstrap, "connection.host");
  set(c, "client.id", "mq", "client.id");
  set(c, "log_level", std::to_string(syslog_level(settings.log_level)), "options.log_level");
  if (settings.username) {
    set(c, "security.protocol", "sasl_plaintext", "credential.username");
    set(c, "sasl.mechanisms", "PLAIN", "credential.username");
    set(c, "sasl.username", *settings.username, "credential.username");
    set(c, "sasl.password", settings.password.value_or(""), "credential.password");
  }
  if (settings.retry_timeout)
    set(c, "reconnect.backoff.max.ms", std::to_string(settings.retry_timeout->count()), "options.retry_timeout");

  if (role == Role::producer) {
    set(c, "acks", std::to_string(settings.acks), "options.acks");
    // Retries after a leader change must neither duplicate nor reorder.
    set(c, "enable.idempotence", settings.acks == -1 ? "true" : "false", "options.acks");
    set(c, "message.timeout.ms", std::to_string(settings.request_timeout.count()), "options.request_timeout");
    // --key goes where Java clients and kafkajs (pip-services) put that key.
    set(c, "partitioner", "murmur2_random", "partitioner");
    if (settings.max_retries)
      set(c, "message.send.max.retries", std::to_string(*settings.max_retries), "options.max_retries");
  } else {
    set(c, "group.id", settings.group_id, "group_id");
    // Offsets are committed by this backend, and only for completed messages.
    set(c, "enable.auto.commit", "false", "autocommit");
    set(c, "enable.auto.offset.store", "false", "autocommit");
    set(c, "enable.partition.eof", "true", "enable.partition.eof");
    set(c, "auto.offset.reset", settings.from_beginning ? "earliest" : "latest", "from_beginning");
    set(c, "allow.auto.create.topics", "false", "allow.auto.create.topics");
    auto session = settings.session_timeout.count();
    set(c, "session.timeout.ms", std::to_string(session), "options.session_timeout");
    set(c, "heartbeat.interval.ms", std::to_string(std::clamp<long long>(session / 3, 1, 3000)),
        "options.session_timeout");
  }
  for (const auto& [name, value] : settings.properties) set(c, name, value, kafka_prefix + name);
  return conf;
}

Handle make_handle(Conf conf, Role role) {
  char errstr[512];
  rd_kafka_t* handle =
      rd_kafka_new(role == Role::producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
  if (!handle) throw ConfigError(fmt::format("kafka: {}", errstr));
  conf.release();  // rd_kafka_new owns it now
  return Handle(handle);
}

std::string describe(Duration duration) {
  auto ms = duration.count();
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

void throw_unreachable(const Settings& settings, const ClientEvents& events) {
  if (events.authentication_failed())
    throw BrokerError(
        fmt::format("authentication with the Kafka cluster at {} failed: {}", settings.bootstrap, events.reason()));
  std::string reason = events.reason();
  throw BrokerError(fmt::format("cannot reach any Kafka broker at {} within {}{}", settings.bootstrap,
                                describe(settings.connect_timeout), reason.empty() ? "" : " (" + reason + ")"),
                    true);
}

std::optional<std::vector<PartitionInfo>> fetch_partitions(rd_kafka_t* handle, rd_kafka_topic_t* topic,
                                                           const Settings& settings, const ClientEvents& events) {
  const rd_kafka_metadata_t* metadata = nullptr;
  auto err =
      rd_kafka_metadata(handle, topic ? 0 : 1, topic, &metadata, static_cast<int>(settings.connect_timeout.count()));
  if (err) {
    // Errors (an authentication failure, say) reach the callbacks only when
    // the handle is polled. A consumer has no messages before it reads.
    if (rd_kafka_type(handle) == RD_KAFKA_PRODUCER) {
      rd_kafka_poll(handle, 0);
    } else {
      while (rd_kafka_message_t* event = rd_kafka_consumer_poll(handle, 0)) {
        if (event->err) on_error(handle, event->err, rd_kafka_message_errstr(event), rd_kafka_opaque(handle));
        rd_kafka_message_destroy(event);
      }
    }
    if (events.authentication_failed() || err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT)
      throw_unreachable(settings, events);
    throw BrokerError(fmt::format("Kafka cluster at {}: {}", settings.bootstrap, error_text(err)));
  }
  std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> owner(metadata,
                                                                                         rd_kafka_metadata_destroy);
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const auto& entry = metadata->topics[i];
    if (settings.topic != entry.topic) continue;
    if (entry.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return std::nullopt;
    if (entry.err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
      throw BrokerError(fmt::format("not authorized to access topic \"{}\"", settings.topic));
    if (entry.err && entry.err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
      throw BrokerError(fmt::format("topic \"{}\": {}", settings.topic, error_text(entry.err)));
    std::vector<PartitionInfo> partitions;
    for (int p = 0; p < entry.partition_cnt; ++p)
      partitions.push_back(PartitionInfo{entry.partitions[p].id, entry.partitions[p].leader});
    std::sort(partitions.begin(), partitions.end(), [](auto& a, auto& b) { return a.id < b.id; });
    return partitions;
  }
  return std::nullopt;
}

std::string error_text(rd_kafka_resp_err_t err) { return rd_kafka_err2str(err); }

}  // namespace mq::kafka
