#pragma once
// Runs real processes for the tests: the mq binary, shell pipelines, brokers.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mqtest {

using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;

struct Result {
  int exit_code = -1;      // the exit status, or 128+signal
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Path of the built mq binary (compiled in by CMake).
std::string mq_binary();
std::string build_dir();

// Runs argv[0] (searched in PATH) with `input` on stdin (closed after it),
// the test's environment plus `env` (a value of "\x01unset" removes a name).
Result run(const std::vector<std::string>& argv, const std::string& input = {}, const Env& env = {},
           std::chrono::milliseconds timeout = 120s);

// /bin/sh -c script, with $MQ naming the mq binary.
Result shell(const std::string& script, const Env& env = {}, std::chrono::milliseconds timeout = 120s);

// A process in the background; stdout and stderr go to files in `dir`.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const Env& env, const std::filesystem::path& dir,
          const std::string& name, std::optional<std::string> stdin_file = std::nullopt);
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();  // SIGKILLs a process still running

  pid_t pid() const { return pid_; }
  void signal(int sig);
  // Exit code (128+signal when killed); nullopt if still running after timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout = 60s);
  bool running();
  std::string out() const;
  std::string err() const;
  // Waits until stdout (or stderr) contains `text`.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout = 30s, bool from_stderr = false);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::filesystem::path out_path_, err_path_;
};

// A fresh directory, removed with everything in it at the end of the scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// An environment isolated from the user's: its own memory store, no config
// file, no MQ_* variables.
struct Sandbox {
  TempDir dir;
  Env env;
  Sandbox();
  Result mq(const std::vector<std::string>& args, const std::string& input = {}, const Env& extra = {},
            std::chrono::milliseconds timeout = 120s) const;
  Result sh(const std::string& script, const Env& extra = {}, std::chrono::milliseconds timeout = 120s) const;
};

// A TCP port on 127.0.0.1 that nobody listened on a moment ago.
int free_port();

std::vector<std::string> lines(const std::string& text);
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& content);

}  // namespace mqtest
