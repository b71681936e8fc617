#pragma once
// Sends for a memory queue: messages are collected into batches and committed
// by a thread of their own, through a connection of its own, one transaction
// per batch. The caller goes on preparing the next batch meanwhile.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "memory/queue_store.hpp"

namespace mq::memory {

class BatchSender {
 public:
  explicit BatchSender(const std::string& path);
  // Commits what is pending, then stops.
  ~BatchSender();
  BatchSender(const BatchSender&) = delete;
  BatchSender& operator=(const BatchSender&) = delete;

  // Blocks while a full batch waits for the one being committed. Throws
  // SendFailed once a commit failed: nothing handed over later is sent.
  void send(Envelope envelope);
  // Returns when everything handed over is committed; throws SendFailed if not.
  void flush();
  // Returns when nothing handed over is pending any more, committed or failed.
  void settle() noexcept;
  std::uint64_t acknowledged() const;

 private:
  void run();
  bool batch_is_full() const;
  [[noreturn]] void throw_failure() const;
  void wait_until_settled(std::unique_lock<std::mutex>& lock);

  QueueStore store_;
  mutable std::mutex mutex_;
  std::condition_variable work_;      // for the committing thread
  std::condition_variable progress_;  // for callers waiting on it
  std::vector<Envelope> filling_;     // what send() adds to
  std::size_t filling_bytes_ = 0;
  SteadyClock::time_point filling_since_;
  std::vector<Envelope> committing_;  // the thread's batch, while busy_
  bool busy_ = false;
  int flush_waiters_ = 0;
  bool stopping_ = false;
  std::string failure_;
  std::uint64_t acknowledged_ = 0;
  std::thread thread_;
};

}  // namespace mq::memory
