#include "process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mqtest {

namespace fs = std::filesystem;

std::string mq_binary() { return MQ_BINARY_PATH; }
std::string build_dir() { return MQ_BUILD_DIR; }

namespace {

std::vector<std::string> merged_environment(const Env& extra) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos) all[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : extra) {
    if (value == "\x01unset") all.erase(key);
    else all[key] = value;
  }
  std::vector<std::string> out;
  for (const auto& [key, value] : all) out.push_back(key + "=" + value);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

Result run(const std::vector<std::string>& argv, const std::string& input, const Env& env,
           std::chrono::milliseconds timeout) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> args = argv;
  auto arg_pointers = pointers(args);
  auto environment = merged_environment(env);
  auto env_pointers = pointers(environment);
  pid_t pid;
  int spawn_error = posix_spawnp(&pid, args[0].c_str(), &actions, &attributes, arg_pointers.data(), env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (spawn_error) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    throw std::runtime_error("cannot run " + args[0] + ": " + std::strerror(spawn_error));
  }

  Result result;
  fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  std::size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true;
  char buffer[65536];
  while (out_open || err_open) {
    pollfd fds[3];
    int n = 0;
    int out_index = -1, err_index = -1, in_index = -1;
    if (out_open) out_index = n, fds[n++] = {out_pipe[0], POLLIN, 0};
    if (err_open) err_index = n, fds[n++] = {err_pipe[0], POLLIN, 0};
    if (in_fd >= 0) in_index = n, fds[n++] = {in_fd, POLLOUT, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    poll(fds, n, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (in_index >= 0 && fds[in_index].revents) {
      ssize_t w = write(in_fd, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN) written = input.size();
      if (written >= input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
    auto drain = [&](int index, int fd, std::string& sink, bool& open) {
      if (index < 0 || !fds[index].revents) return;
      ssize_t r = read(fd, buffer, sizeof buffer);
      if (r > 0) sink.append(buffer, static_cast<std::size_t>(r));
      else open = false;
    };
    drain(out_index, out_pipe[0], result.out, out_open);
    drain(err_index, err_pipe[0], result.err, err_open);
  }
  if (in_fd >= 0) close(in_fd);
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = decode_status(status);
  return result;
}

Result shell(const std::string& script, const Env& env, std::chrono::milliseconds timeout) {
  Env with_mq = env;
  if (!with_mq.count("MQ")) with_mq["MQ"] = mq_binary();
  return run({"/bin/sh", "-c", script}, {}, with_mq, timeout);
}

Process::Process(const std::vector<std::string>& argv, const Env& env, const fs::path& dir, const std::string& name,
                 std::optional<std::string> stdin_file)
    : out_path_(dir / (name + ".out")), err_path_(dir / (name + ".err")) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, stdin_file ? stdin_file->c_str() : "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> args = argv;
  auto arg_pointers = pointers(args);
  auto environment = merged_environment(env);
  auto env_pointers = pointers(environment);
  int error = posix_spawnp(&pid_, args[0].c_str(), &actions, &attributes, arg_pointers.data(), env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error) throw std::runtime_error("cannot run " + args[0] + ": " + std::strerror(error));
}

Process::~Process() {
  if (!status_) {
    kill(pid_, SIGKILL);
    wait(10s);
  }
}

void Process::signal(int sig) {
  if (!status_) kill(pid_, sig);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      status_ = decode_status(status);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

bool Process::running() { return !wait(0ms).has_value(); }

std::string Process::out() const { return read_file(out_path_); }
std::string Process::err() const { return read_file(err_path_); }

bool Process::wait_for_output(const std::string& text, std::chrono::milliseconds timeout, bool from_stderr) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if ((from_stderr ? err() : out()).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TempDir::TempDir() {
  std::random_device device;
  auto base = fs::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = base / ("mqtest-" + std::to_string(getpid()) + "-" + std::to_string(device()));
    if (fs::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

Sandbox::Sandbox() {
  env = {
      {"MQ_MEMORY_DIR", (dir.path() / "store").string()},
      {"XDG_CONFIG_HOME", (dir.path() / "config").string()},
      {"HOME", dir.str()},
      {"MQ_QUEUE", "\x01unset"},
      {"MQ_CONFIG", "\x01unset"},
      {"MQ_PASSWORD", "\x01unset"},
      {"NO_COLOR", "\x01unset"},
      {"MQ", mq_binary()},
  };
}

Result Sandbox::mq(const std::vector<std::string>& args, const std::string& input, const Env& extra,
                   std::chrono::milliseconds timeout) const {
  std::vector<std::string> argv{mq_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  Env all = env;
  for (const auto& [key, value] : extra) all[key] = value;
  return run(argv, input, all, timeout);
}

Result Sandbox::sh(const std::string& script, const Env& extra, std::chrono::milliseconds timeout) const {
  Env all = env;
  for (const auto& [key, value] : extra) all[key] = value;
  return shell(script, all, timeout);
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  int port = ntohs(address.sin_port);
  close(fd);
  return port;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) out.push_back(line);
  return out;
}

std::string read_file(const fs::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::stringstream buffer;
  buffer << stream.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream stream(path, std::ios::binary);
  stream << content;
}

}  // namespace mqtest
