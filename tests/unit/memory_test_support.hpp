#pragma once
// Helpers for the memory backend's library tests.

#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mq/queue.hpp"
#include "process.hpp"

namespace memtest {

inline mq::ConfigParams memory_config(const mqtest::TempDir& dir, const std::string& name,
                                      std::initializer_list<std::pair<const std::string, std::string>> extra = {}) {
  mq::ConfigParams config{{"backend", "memory"}, {"topic", name}, {"options.store_dir", (dir.path() / "store").string()}};
  for (const auto& [key, value] : extra) config.set(key, value);
  return config;
}

inline std::unique_ptr<mq::Queue> open_memory(const mqtest::TempDir& dir, const std::string& name) {
  return mq::open_queue(memory_config(dir, name));
}

inline mq::Envelope message(std::string payload) {
  mq::Envelope envelope;
  envelope.payload = std::move(payload);
  return envelope;
}

inline void send_payloads(mq::Queue& queue, const std::vector<std::string>& payloads) {
  for (const auto& payload : payloads) queue.send(message(payload));
  queue.flush();
}

inline std::vector<std::string> payloads(const std::vector<mq::Envelope>& envelopes) {
  std::vector<std::string> out;
  for (const auto& envelope : envelopes) out.push_back(envelope.payload);
  return out;
}

inline mq::ReceiveOptions take(std::size_t max, std::chrono::milliseconds wait = std::chrono::milliseconds(0),
                               std::optional<std::chrono::milliseconds> lock = std::nullopt) {
  mq::ReceiveOptions options;
  options.max = max;
  options.wait = wait;
  options.lock = lock;
  return options;
}

// What a later process has of a locked message: its token alone.
inline std::vector<mq::Envelope> token_only(const std::string& token) {
  std::vector<mq::Envelope> envelopes(1);
  envelopes[0].lock_token = token;
  return envelopes;
}

// Sets an environment variable for a scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = ::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Holds the write lock of a queue's store, as a stuck process would.
class StoreWriteLock {
 public:
  StoreWriteLock(const mqtest::TempDir& dir, const std::string& name) {
    auto path = (dir.path() / "store" / (name + ".sqlite")).string();
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK ||
        sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
      throw std::runtime_error("cannot lock " + path);
  }
  ~StoreWriteLock() {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }
  StoreWriteLock(const StoreWriteLock&) = delete;
  StoreWriteLock& operator=(const StoreWriteLock&) = delete;

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace memtest
