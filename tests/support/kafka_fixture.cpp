#include "kafka_fixture.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mqtest {

#ifndef KAFKA_TEST_BROKER_PATH
#define KAFKA_TEST_BROKER_PATH "kafka_test_broker"
#endif

KafkaBroker::KafkaBroker(const KafkaBrokerOptions& options) {
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC)) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  std::string log_path = (dir_.path() / "broker.log").string();
  posix_spawn_file_actions_addopen(&actions, 2, options.log ? log_path.c_str() : "/dev/null",
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> args{KAFKA_TEST_BROKER_PATH, "--brokers", std::to_string(options.brokers)};
  if (options.log) args.push_back("--verbose");
  for (const auto& [name, partitions] : options.topics) {
    args.push_back("--topic");
    args.push_back(name + ":" + std::to_string(partitions));
  }
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int error = posix_spawn(&pid_, argv[0], &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(in_pipe[0]);
  close(out_pipe[1]);
  control_ = in_pipe[1];
  answers_ = out_pipe[0];
  if (error) {
    close(control_);
    close(answers_);
    throw std::runtime_error(std::string("cannot start the Kafka test broker: ") + std::strerror(error));
  }
  bootstrap_ = read_line(10000);
  if (bootstrap_.empty()) throw std::runtime_error("the Kafka test broker printed no address");
}

KafkaBroker::~KafkaBroker() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (control_ >= 0) close(control_);
  if (answers_ >= 0) close(answers_);
}

std::string KafkaBroker::read_line(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (auto newline = pending_.find('\n'); newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {};
    pollfd fd{answers_, POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    ssize_t got = read(answers_, buffer, sizeof buffer);
    if (got <= 0) return {};
    pending_.append(buffer, static_cast<std::size_t>(got));
  }
}

void KafkaBroker::command(const std::string& line) {
  std::string text = line + "\n";
  if (write(control_, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw std::runtime_error("cannot write to the Kafka test broker");
  std::string answer = read_line(10000);
  if (answer != "ok") throw std::runtime_error("kafka test broker: " + line + ": " + answer);
}

std::string KafkaBroker::log() const { return read_file(dir_.path() / "broker.log"); }

std::string KafkaBroker::uri(const std::string& topic, const std::string& query) const {
  return "kafka://" + bootstrap_ + "/" + topic + (query.empty() ? "" : "?" + query);
}

mq::ConfigParams KafkaBroker::config(const std::string& topic, const std::string& group) const {
  mq::ConfigParams params = mq::parse_queue_uri(uri(topic));
  if (!group.empty()) params.set("group_id", group);
  return params;
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}();
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter) + "-" +
         std::to_string(salt % 100000);
}

}  // namespace mqtest
