#pragma once
// What the Kafka backend shares between its producer and consumer: the
// configuration keys turned into librdkafka settings, client handles whose
// logs and errors are captured instead of printed, and the first contact with
// the cluster (bounded by options.connect_timeout).

#include <librdkafka/rdkafka.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mq/config.hpp"
#include "mq/envelope.hpp"

namespace mq::kafka {

struct Settings {
  std::string bootstrap;  // "host:port,host:port"
  std::string topic;
  std::string group_id = "default";
  // A group with no committed offset starts at the earliest retained message
  // (true, mq's default) or at the end, seeing only newer messages (false,
  // pip-services' default and Kafka's auto.offset.reset=latest).
  bool from_beginning = true;
  // Partitions whose fetched messages a receive may interleave; 1 hands out
  // one partition's run of messages before the next partition's.
  int read_partitions = 1;
  // true: completed offsets are committed in the background (at most every
  // commit_interval, and at the end); false: each complete() commits before
  // it returns. Offsets are committed only for completed messages either way.
  bool autocommit = true;
  int acks = -1;
  int log_level = 1;
  Duration connect_timeout{1000};
  Duration request_timeout{30000};
  std::optional<int> max_retries;
  std::optional<Duration> retry_timeout;
  Duration session_timeout{6000};
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::vector<std::pair<std::string, std::string>> properties;  // kafka.<property>, verbatim
};

// Throws ConfigError naming the key.
Settings read_settings(const ConfigParams& config);

// Log lines and errors librdkafka reports from its own threads, kept for the
// error messages of this backend (a backend never prints).
class ClientEvents {
 public:
  void record_error(rd_kafka_resp_err_t err, const char* reason);
  void record_log(int level, const char* message);
  // The most telling reason seen so far, or empty.
  std::string reason() const;
  bool authentication_failed() const;

  // The object that made the handle, for callbacks that need more than this.
  void* owner = nullptr;

 private:
  mutable std::mutex mutex_;
  std::string last_error_;
  std::string last_log_;
  bool authentication_failed_ = false;
};

enum class Role { producer, consumer };

struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* topic) const { rd_kafka_topic_destroy(topic); }
};
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
PartitionList make_partition_list(int capacity);

// A configuration for `role` with every setting of `settings` applied, the
// kafka.<property> keys last. `configure` may add callbacks before the handle
// is made. Throws ConfigError for a property librdkafka refuses.
struct ConfRelease {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using Conf = std::unique_ptr<rd_kafka_conf_t, ConfRelease>;
Conf make_conf(const Settings& settings, Role role, ClientEvents* events);
Handle make_handle(Conf conf, Role role);

// "1s", "1500ms" for messages.
std::string describe(Duration duration);

// The BrokerError for a cluster that did not answer within the connect timeout.
[[noreturn]] void throw_unreachable(const Settings& settings, const ClientEvents& events);

struct PartitionInfo {
  std::int32_t id;
  std::int32_t leader;  // broker id, -1 when none
};

// Waits (at most connect_timeout) for the cluster's metadata about the topic.
// Returns its partitions in order; nullopt when the cluster says the topic
// does not exist. Throws BrokerError when no broker answers.
// With `topic` the request names the topic, which lets a cluster that creates
// topics on first use create it; without, it lists all topics (a reader must
// not create what it reads).
std::optional<std::vector<PartitionInfo>> fetch_partitions(rd_kafka_t* handle, rd_kafka_topic_t* topic,
                                                           const Settings& settings, const ClientEvents& events);

// One line for a librdkafka error code.
std::string error_text(rd_kafka_resp_err_t err);

}  // namespace mq::kafka
