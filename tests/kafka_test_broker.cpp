// kafka_test_broker: a Kafka-protocol broker for tests, built on librdkafka's
// mock cluster (rdkafka_mock.h). Apache Kafka is not installable here; the
// mock cluster speaks the protocol on real loopback sockets, so `mq`, kcat and
// any other client connect to it like to any broker.
//
// Usage:
//   kafka_test_broker [--brokers N] [--topic NAME:PARTITIONS]... [--verbose]
//
// The first line on stdout is the bootstrap list ("127.0.0.1:PORT,...",
// flushed at once). Then it runs until SIGTERM, SIGINT or the death of its
// parent process (so a crashed test leaves no broker behind).
//
// Topics: --topic creates a topic up front, with the leader of partition p on
// broker (p % N) + 1. Other topics are created with 4 partitions (the mock
// cluster's default) by the first metadata request that names them, from a
// producer or a consumer alike (librdkafka 2.0.2's mock ignores
// AllowAutoTopicCreation); a client that lists all topics creates none.
// Each partition keeps its newest 5 MiB (the mock's fixed retention): size the
// partition count for the data a test or benchmark keeps.
//
// Control channel: one command per line on stdin, one answer line on stdout
// ("ok" or "error: WHY"). End of stdin only ends the control channel.
//   topic NAME PARTITIONS        create a topic (leaders spread as above)
//   down BROKER                  take a broker away: its connections close,
//                                new ones are refused, and the partitions it
//                                leads (of topics created here) move to the
//                                next broker that is up, as a controller
//                                would elect new leaders
//   up BROKER                    let a broker accept connections again
//   leader TOPIC PARTITION BROKER  move one partition's leader
//   rtt BROKER MILLISECONDS      delay a broker's responses
// Brokers are numbered 1..N.

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  int brokers = 1;
  std::vector<std::pair<std::string, int>> topics;
  bool verbose = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "kafka_test_broker: %s\n"
               "usage: kafka_test_broker [--brokers N] [--topic NAME:PARTITIONS]... [--verbose]\n",
               why);
  std::exit(2);
}

std::optional<int> parse_positive(const std::string& text) {
  try {
    std::size_t used = 0;
    int value = std::stoi(text, &used);
    if (used != text.size() || value <= 0) return std::nullopt;
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
      return argv[++i];
    };
    if (arg == "--brokers") {
      auto count = parse_positive(value());
      if (!count) usage("--brokers takes a positive number");
      options.brokers = *count;
    } else if (arg == "--topic") {
      std::string spec = value();
      auto colon = spec.rfind(':');
      std::optional<int> partitions = colon == std::string::npos ? 1 : parse_positive(spec.substr(colon + 1));
      if (!partitions || colon == 0) usage("--topic takes NAME:PARTITIONS");
      options.topics.emplace_back(spec.substr(0, colon), *partitions);
    } else if (arg == "--verbose") {
      options.verbose = true;
    } else if (arg == "--help" || arg == "-h") {
      std::printf("usage: kafka_test_broker [--brokers N] [--topic NAME:PARTITIONS]... [--verbose]\n");
      std::exit(0);
    } else {
      usage(("unknown argument " + arg).c_str());
    }
  }
  return options;
}

void quiet_log(const rd_kafka_t*, int, const char*, const char*) {}

void verbose_log(const rd_kafka_t*, int level, const char* facility, const char* message) {
  std::fprintf(stderr, "kafka_test_broker: %d %s %s\n", level, facility, message);
}

// librdkafka 2.0.2's mock thread sometimes misses the wakeup for a control
// call (topic create, set leader, ...) and handles it only at its next 1 s
// poll timeout. Any socket event wakes it, so while a call is under way a
// helper thread keeps opening connections to a broker that is up.
class Waker {
 public:
  explicit Waker(std::vector<int> ports) : ports_(std::move(ports)) {}

  template <typename Call>
  auto operator()(int avoid_broker, Call&& call) {
    std::atomic<bool> done{false};
    std::thread poker([&] {
      while (!done) {
        for (std::size_t i = 0; i < ports_.size() && !done; ++i) {
          if (static_cast<int>(i) + 1 == avoid_broker) continue;
          poke(ports_[i]);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
    auto result = call();
    done = true;
    poker.join();
    return result;
  }

 private:
  static void poke(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    close(fd);
  }

  std::vector<int> ports_;
};

// "127.0.0.1:4001,127.0.0.1:4002" -> {4001, 4002}
std::vector<int> ports_of(const std::string& bootstraps) {
  std::vector<int> ports;
  std::istringstream list(bootstraps);
  for (std::string entry; std::getline(list, entry, ',');)
    ports.push_back(std::atoi(entry.substr(entry.rfind(':') + 1).c_str()));
  return ports;
}

class Cluster {
 public:
  Cluster(rd_kafka_mock_cluster_t* mock, int brokers)
      : mock_(mock),
        up_(static_cast<std::size_t>(brokers) + 1, true),
        wake_(ports_of(rd_kafka_mock_cluster_bootstraps(mock))) {}

  std::string create_topic(const std::string& name, int partitions) {
    if (leaders_.count(name)) return "topic exists";
    auto err = wake_(0, [&] { return rd_kafka_mock_topic_create(mock_, name.c_str(), partitions, 1); });
    if (err) return rd_kafka_err2str(err);
    // The mock cluster picks leaders at random; tests want to know them.
    auto& leaders = leaders_[name];
    for (int partition = 0; partition < partitions; ++partition) {
      int broker = partition % broker_count() + 1;
      if (broker_count() > 1)
        wake_(0, [&] { return rd_kafka_mock_partition_set_leader(mock_, name.c_str(), partition, broker); });
      leaders.push_back(broker);
    }
    return {};
  }

  std::string set_down(int broker) {
    if (!valid(broker)) return "no such broker";
    up_[static_cast<std::size_t>(broker)] = false;
    auto err = wake_(broker, [&] { return rd_kafka_mock_broker_set_down(mock_, broker); });
    if (err) return rd_kafka_err2str(err);
    std::optional<int> heir;
    for (int offset = 1; offset < broker_count() && !heir; ++offset) {
      int candidate = (broker - 1 + offset) % broker_count() + 1;
      if (up_[static_cast<std::size_t>(candidate)]) heir = candidate;
    }
    if (!heir) return {};  // the whole cluster is down: nobody can lead
    for (auto& [topic, leaders] : leaders_)
      for (std::size_t partition = 0; partition < leaders.size(); ++partition)
        if (leaders[partition] == broker) {
          wake_(broker, [&] {
            return rd_kafka_mock_partition_set_leader(mock_, topic.c_str(), static_cast<int32_t>(partition), *heir);
          });
          leaders[partition] = *heir;
        }
    return {};
  }

  std::string set_up(int broker) {
    if (!valid(broker)) return "no such broker";
    up_[static_cast<std::size_t>(broker)] = true;
    auto err = wake_(0, [&] { return rd_kafka_mock_broker_set_up(mock_, broker); });
    return err ? rd_kafka_err2str(err) : std::string{};
  }

  std::string set_leader(const std::string& topic, int partition, int broker) {
    if (!valid(broker)) return "no such broker";
    auto err = wake_(0, [&] { return rd_kafka_mock_partition_set_leader(mock_, topic.c_str(), partition, broker); });
    if (err) return rd_kafka_err2str(err);
    auto it = leaders_.find(topic);
    if (it != leaders_.end() && partition >= 0 && static_cast<std::size_t>(partition) < it->second.size())
      it->second[static_cast<std::size_t>(partition)] = broker;
    return {};
  }

  std::string set_rtt(int broker, int millis) {
    if (!valid(broker)) return "no such broker";
    auto err = wake_(0, [&] { return rd_kafka_mock_broker_set_rtt(mock_, broker, millis); });
    return err ? rd_kafka_err2str(err) : std::string{};
  }

 private:
  int broker_count() const { return static_cast<int>(up_.size()) - 1; }
  bool valid(int broker) const { return broker >= 1 && broker <= broker_count(); }

  rd_kafka_mock_cluster_t* mock_;
  std::vector<bool> up_;  // by broker id, [0] unused
  Waker wake_;
  std::map<std::string, std::vector<int>> leaders_;
};

std::string run_command(Cluster& cluster, const std::string& line) {
  std::istringstream words(line);
  std::string verb;
  words >> verb;
  std::vector<std::string> args;
  for (std::string word; words >> word;) args.push_back(word);
  auto number = [&](std::size_t index) { return parse_positive(args[index]).value_or(-1); };
  auto integer = [&](std::size_t index) {
    try {
      return std::stoi(args[index]);
    } catch (const std::exception&) {
      return -1;
    }
  };
  if (verb == "topic" && args.size() == 2) {
    if (number(1) < 1) return "partitions must be positive";
    return cluster.create_topic(args[0], number(1));
  }
  if (verb == "down" && args.size() == 1) return cluster.set_down(number(0));
  if (verb == "up" && args.size() == 1) return cluster.set_up(number(0));
  if (verb == "leader" && args.size() == 3) return cluster.set_leader(args[0], integer(1), number(2));
  if (verb == "rtt" && args.size() == 2) return cluster.set_rtt(number(0), integer(1));
  return "unknown command (topic, down, up, leader, rtt)";
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv);

  // Block the stop signals before librdkafka starts its threads, so that they
  // all inherit the mask and the signals reach only the signalfd below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return 0;  // the parent died before prctl
  signal(SIGPIPE, SIG_IGN);

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, options.verbose ? verbose_log : quiet_log);
  if (options.verbose) rd_kafka_conf_set(conf, "debug", "mock", errstr, sizeof errstr);
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!handle) {
    std::fprintf(stderr, "kafka_test_broker: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(handle, options.brokers);
  if (!mock) {
    std::fprintf(stderr, "kafka_test_broker: cannot start the mock cluster\n");
    rd_kafka_destroy(handle);
    return 1;
  }
  Cluster cluster(mock, options.brokers);
  for (const auto& [name, partitions] : options.topics) {
    std::string error = cluster.create_topic(name, partitions);
    if (!error.empty()) {
      std::fprintf(stderr, "kafka_test_broker: topic %s: %s\n", name.c_str(), error.c_str());
      return 1;
    }
  }

  std::printf("%s\n", rd_kafka_mock_cluster_bootstraps(mock));
  std::fflush(stdout);

  int signals = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  std::string pending;
  bool stdin_open = true;
  while (true) {
    pollfd fds[2] = {{signals, POLLIN, 0}, {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[0].revents) break;
    if (!fds[1].revents) continue;
    char buffer[4096];
    ssize_t got = read(STDIN_FILENO, buffer, sizeof buffer);
    if (got <= 0) {
      stdin_open = false;
      continue;
    }
    pending.append(buffer, static_cast<std::size_t>(got));
    for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
      std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      std::string error = run_command(cluster, line);
      std::printf("%s\n", error.empty() ? "ok" : ("error: " + error).c_str());
      std::fflush(stdout);
    }
  }

  // An orderly rd_kafka_destroy() takes about a second; the kernel closes the
  // sockets just as well, and tests stop brokers often.
  std::fflush(stdout);
  _exit(0);
}
