#include "memory/process_identity.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string_view>

namespace mq::memory {

namespace {

struct ProcStat {
  char state = '?';
  std::uint64_t start_time = 0;
};

enum class Lookup { found, gone, unknown };

Lookup read_proc_stat(pid_t pid, ProcStat& stat) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ESRCH ? Lookup::gone : Lookup::unknown;
  char buffer[1024];
  ssize_t size = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  if (size <= 0) return size == 0 || errno == ESRCH ? Lookup::gone : Lookup::unknown;
  // "PID (COMM) STATE ...": COMM may hold spaces and parentheses; the last ')' ends it.
  std::string_view text(buffer, static_cast<std::size_t>(size));
  auto close_paren = text.rfind(')');
  if (close_paren == std::string_view::npos || close_paren + 2 >= text.size()) return Lookup::unknown;
  text.remove_prefix(close_paren + 2);
  stat.state = text.front();
  // The state is field 3; the start time is field 22.
  for (int field = 3; field < 22; ++field) {
    auto space = text.find(' ');
    if (space == std::string_view::npos) return Lookup::unknown;
    text.remove_prefix(space + 1);
  }
  auto [ptr, error] = std::from_chars(text.data(), text.data() + text.size(), stat.start_time);
  (void)ptr;
  return error == std::errc{} ? Lookup::found : Lookup::unknown;
}

std::string read_boot_id() {
  int fd = ::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buffer[64];
  ssize_t size = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  std::string id(buffer, size > 0 ? static_cast<std::size_t>(size) : 0);
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

ProcessIdentity identify_self() {
  ProcessIdentity self;
  self.pid = getpid();
  ProcStat stat;
  if (read_proc_stat(self.pid, stat) == Lookup::found) self.start_time = stat.start_time;
  self.boot_id = read_boot_id();
  return self;
}

}  // namespace

const ProcessIdentity& own_identity() {
  // Recomputed after fork(): a child is another process.
  thread_local ProcessIdentity cached;
  if (cached.pid != getpid()) cached = identify_self();
  return cached;
}

bool is_running(const ProcessIdentity& process) {
  const auto& self = own_identity();
  if (!self.boot_id.empty() && !process.boot_id.empty() && self.boot_id != process.boot_id) return false;
  if (process.pid <= 0) return false;
  ProcStat stat;
  switch (read_proc_stat(process.pid, stat)) {
    case Lookup::gone:
      return false;
    case Lookup::unknown:
      // No usable /proc: all that can be asked is whether the pid exists.
      return ::kill(process.pid, 0) == 0 || errno == EPERM;
    case Lookup::found:
      break;
  }
  if (stat.state == 'Z' || stat.state == 'X') return false;
  return process.start_time == 0 || stat.start_time == process.start_time;
}

}  // namespace mq::memory
