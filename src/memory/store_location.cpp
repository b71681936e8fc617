#include "memory/store_location.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "mq/error.hpp"
#include "mq/narrate.hpp"

namespace mq::memory {

namespace {

constexpr std::size_t longest_name = 200;

[[noreturn]] void unusable(const std::string& directory, const std::string& why) {
  throw BrokerError(fmt::format("memory store directory {}: {}", directory, why));
}

void create_private_directory(const std::string& directory) {
  std::filesystem::path path(directory);
  if (path.has_parent_path()) {
    std::error_code error;
    std::filesystem::create_directories(path.parent_path(), error);
    if (error) unusable(directory, error.message());
  }
  if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) unusable(directory, std::strerror(errno));
}

// The default directory sits in world-writable /dev/shm: someone else may
// have made it first, to read or plant queues. Only our own private one will do.
void check_default_directory(const std::string& directory) {
  struct stat info;
  if (::lstat(directory.c_str(), &info) != 0) unusable(directory, std::strerror(errno));
  if (!S_ISDIR(info.st_mode)) unusable(directory, "not a directory");
  if (info.st_uid != ::geteuid()) unusable(directory, "owned by another user");
  if ((info.st_mode & 0077) != 0 && ::chmod(directory.c_str(), 0700) != 0) unusable(directory, std::strerror(errno));
}

}  // namespace

std::string store_directory(const ConfigParams& config) {
  if (auto configured = config.get("options.store_dir"); configured && !configured->empty()) {
    create_private_directory(*configured);
    narrate("memory: store directory {} (options.store_dir)", *configured);
    return *configured;
  }
  if (const char* variable = std::getenv("MQ_MEMORY_DIR"); variable && *variable) {
    create_private_directory(variable);
    narrate("memory: store directory {} ($MQ_MEMORY_DIR)", variable);
    return variable;
  }
  std::string directory = fmt::format("/dev/shm/mq-{}", ::geteuid());
  if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST)
    unusable(directory, fmt::format("{} (set MQ_MEMORY_DIR to a directory of your own)", std::strerror(errno)));
  check_default_directory(directory);
  narrate("memory: store directory {} (the default, in RAM)", directory);
  return directory;
}

void validate_queue_name(const std::string& name) {
  auto refuse = [&](const char* why) {
    throw ConfigError(fmt::format("memory queue name {:?} is not allowed: {}", name, why));
  };
  if (name.empty()) refuse("it is empty");
  if (name.front() == '.') refuse("it starts with '.'");
  if (name.size() > longest_name) refuse("it is longer than 200 bytes");
  for (unsigned char c : name) {
    if (c == '/' || c == '\\') refuse("it holds a path separator");
    if (c < 0x20 || c == 0x7f) refuse("it holds a control character");
  }
}

std::string queue_file(const std::string& directory, const std::string& name) {
  return directory + "/" + name + ".sqlite";
}

}  // namespace mq::memory
