#pragma once
// Where memory queues live on the host, and which queue names may be used
// as file names there.

#include <string>

#include "mq/config.hpp"

namespace mq::memory {

// options.store_dir, else $MQ_MEMORY_DIR, else /dev/shm/mq-$UID; created
// (mode 0700) when missing. Throws BrokerError when it cannot be used.
std::string store_directory(const ConfigParams& config);

// Throws ConfigError for a name that could leave the store directory or
// clash with the store's own files: empty, starting with '.', holding '/',
// '\\', NUL or control characters, or longer than 200 bytes.
void validate_queue_name(const std::string& name);

// The SQLite file of queue `name` in `directory`.
std::string queue_file(const std::string& directory, const std::string& name);

}  // namespace mq::memory
