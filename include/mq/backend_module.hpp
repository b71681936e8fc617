#pragma once
// What a backend built as a loadable module (libmq-NAME.so) exports. The
// broker backends are modules so that a command on the memory backend never
// loads librdkafka, Paho and OpenSSL: their loading is most of a short
// command's time.

#include <memory>

#include "mq/config.hpp"
#include "mq/queue.hpp"
#include "mq/version.hpp"

// Defines the module's entry points for a backend's open function and the
// library it runs on.
#define MQ_BACKEND_MODULE(open_function, library_version)                                     \
  extern "C" std::unique_ptr<mq::Queue> mq_backend_open(const mq::ConfigParams& config) {     \
    return open_function(config);                                                             \
  }                                                                                           \
  extern "C" mq::LibraryVersion mq_backend_library() { return library_version(); }
