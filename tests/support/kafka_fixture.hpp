#pragma once
// The Kafka test broker (tests/kafka_test_broker.cpp, librdkafka's mock
// cluster) as a test fixture: started in the constructor on loopback ports,
// driven through its stdin control channel, stopped in the destructor.

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "mq/config.hpp"
#include "process.hpp"

namespace mqtest {

struct KafkaBrokerOptions {
  int brokers = 1;
  std::vector<std::pair<std::string, int>> topics;  // created up front: name, partitions
  // Keep the mock cluster's debug log (protocol requests, group changes) for log().
  bool log = false;
};

class KafkaBroker {
 public:
  explicit KafkaBroker(const KafkaBrokerOptions& options = {});
  ~KafkaBroker();
  KafkaBroker(const KafkaBroker&) = delete;
  KafkaBroker& operator=(const KafkaBroker&) = delete;

  // "127.0.0.1:PORT,127.0.0.1:PORT"
  const std::string& bootstrap() const { return bootstrap_; }
  // kafka://127.0.0.1:P1,127.0.0.1:P2/TOPIC[?QUERY]
  std::string uri(const std::string& topic, const std::string& query = {}) const;
  // Resolved configuration keys for the backend, as the CLI would pass them.
  mq::ConfigParams config(const std::string& topic, const std::string& group = {}) const;

  // Runs one control command; throws unless the broker answers "ok".
  void command(const std::string& line);
  void create_topic(const std::string& name, int partitions) {
    command("topic " + name + " " + std::to_string(partitions));
  }
  void take_down(int broker) { command("down " + std::to_string(broker)); }
  void bring_up(int broker) { command("up " + std::to_string(broker)); }

  pid_t pid() const { return pid_; }
  // The broker's debug log so far (KafkaBrokerOptions::log).
  std::string log() const;

 private:
  std::string read_line(int timeout_ms);

  pid_t pid_ = -1;
  int control_ = -1;  // the broker's stdin
  int answers_ = -1;  // the broker's stdout
  std::string pending_;
  std::string bootstrap_;
  TempDir dir_;
};

// A topic or group name no other test uses: PREFIX-PID-COUNTER-RANDOM.
std::string unique_name(const std::string& prefix);

}  // namespace mqtest
