#pragma once
// Who holds in-flight messages: a process named so that a reused pid or a
// reboot can never pass for the process that took them.

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace mq::memory {

struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // clock ticks after boot, field 22 of /proc/PID/stat
  std::string boot_id;           // /proc/sys/kernel/random/boot_id
};

// This process.
const ProcessIdentity& own_identity();

// False once the process has exited (zombies included), or when its pid now
// names another process or the host has rebooted since. True when it cannot
// be told (no /proc): holding messages longer beats delivering them twice.
bool is_running(const ProcessIdentity& process);

}  // namespace mq::memory
