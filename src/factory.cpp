#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <map>
#include <mutex>

#include "memory/memory_queue.hpp"
#include "mq/backend_module.hpp"
#include "mq/queue.hpp"

namespace mq {

namespace {

using OpenFunction = std::unique_ptr<Queue> (*)(const ConfigParams&);
using LibraryFunction = LibraryVersion (*)();

struct Backend {
  const char* name;
  OpenFunction open;  // null: the module libmq-NAME.so beside this library
};

// Adding a backend: its folder under src/, and one line here.
constexpr Backend backends[] = {
    {"memory", open_memory_queue},
    {"kafka", nullptr},
    {"mqtt", nullptr},
};

struct Module {
  OpenFunction open;
  LibraryFunction library;
};

// The modules live where libmqcore.so does: the build tree, or lib/mq of
// wherever the package was unpacked.
std::filesystem::path module_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&open_queue), &info) == 0 || !info.dli_fname)
    throw BrokerError("cannot find where mq's libraries are installed");
  return std::filesystem::path(info.dli_fname).parent_path();
}

// Loaded once and never unloaded: their libraries keep threads and state.
const Module& load_module(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, Module> loaded;
  std::lock_guard lock(mutex);
  if (auto it = loaded.find(name); it != loaded.end()) return it->second;
  auto path = module_directory() / fmt::format("libmq-{}.so", name);
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw BrokerError(fmt::format("the {} backend cannot be loaded: {}", name, dlerror()));
  Module module{reinterpret_cast<OpenFunction>(dlsym(handle, "mq_backend_open")),
                reinterpret_cast<LibraryFunction>(dlsym(handle, "mq_backend_library"))};
  if (!module.open || !module.library)
    throw BrokerError(fmt::format("{} is not an mq backend module", path.string()));
  return loaded.emplace(name, module).first->second;
}

}  // namespace

std::unique_ptr<Queue> open_queue(const ConfigParams& config) {
  std::string name = config.get_string("backend", "memory");
  for (const auto& backend : backends)
    if (name == backend.name) return backend.open ? backend.open(config) : load_module(name).open(config);
  throw ConfigError(fmt::format("unknown backend \"{}\" ({})", name, fmt::join(backend_names(), ", ")));
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const auto& backend : backends) names.emplace_back(backend.name);
  return names;
}

std::vector<LibraryVersion> library_versions() {
  std::vector<LibraryVersion> versions;
  for (const auto& backend : backends)
    if (!backend.open) versions.push_back(load_module(backend.name).library());
  return versions;
}

}  // namespace mq
