#include "memory/batch_sender.hpp"

#include "mq/queue.hpp"

namespace mq::memory {

namespace {

// A batch is committed when it holds this many messages or bytes, or has
// waited this long since its first message, whichever comes first.
constexpr std::size_t batch_messages = 4096;
constexpr std::size_t batch_bytes = std::size_t{4} << 20;
constexpr std::chrono::milliseconds batch_age{20};

// How long a commit waits for other processes' transactions before failing.
constexpr std::chrono::seconds commit_patience{30};

std::size_t footprint(const Envelope& envelope) {
  std::size_t bytes = sizeof(Envelope) + envelope.payload.size() + envelope.message_id.size();
  for (const auto& header : envelope.headers) bytes += header.name.size() + header.value.size();
  return bytes;
}

}  // namespace

BatchSender::BatchSender(const std::string& path) : store_(path), thread_([this] { run(); }) {}

BatchSender::~BatchSender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_one();
  thread_.join();
}

bool BatchSender::batch_is_full() const {
  return filling_.size() >= batch_messages || filling_bytes_ >= batch_bytes;
}

void BatchSender::send(Envelope envelope) {
  std::unique_lock lock(mutex_);
  if (!failure_.empty()) throw_failure();
  bool first = filling_.empty();
  if (first) filling_since_ = SteadyClock::now();
  filling_bytes_ += footprint(envelope);
  filling_.push_back(std::move(envelope));
  if (batch_is_full()) {
    progress_.wait(lock, [&] { return !busy_ || !failure_.empty(); });
    if (!failure_.empty()) throw_failure();
    // The thread may have taken the batch itself meanwhile.
    if (!filling_.empty()) {
      committing_.swap(filling_);
      filling_.clear();
      filling_bytes_ = 0;
      busy_ = true;
      work_.notify_one();
    }
  } else if (first) {
    work_.notify_one();  // starts the batch's clock in the thread
  }
}

void BatchSender::wait_until_settled(std::unique_lock<std::mutex>& lock) {
  ++flush_waiters_;
  work_.notify_one();
  progress_.wait(lock, [&] { return (!busy_ && filling_.empty()) || !failure_.empty(); });
  --flush_waiters_;
}

void BatchSender::flush() {
  std::unique_lock lock(mutex_);
  wait_until_settled(lock);
  if (!failure_.empty()) throw_failure();
}

void BatchSender::settle() noexcept {
  std::unique_lock lock(mutex_);
  wait_until_settled(lock);
}

std::uint64_t BatchSender::acknowledged() const {
  std::lock_guard lock(mutex_);
  return acknowledged_;
}

void BatchSender::throw_failure() const { throw SendFailed(failure_, acknowledged_); }

void BatchSender::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!busy_ && !filling_.empty() &&
        (stopping_ || flush_waiters_ > 0 || SteadyClock::now() >= filling_since_ + batch_age)) {
      committing_.swap(filling_);
      filling_.clear();
      filling_bytes_ = 0;
      busy_ = true;
    }
    if (busy_) {
      lock.unlock();
      std::string error;
      try {
        store_.append(committing_, SteadyClock::now() + commit_patience);
      } catch (const std::exception& failure) {
        error = failure.what();
        if (error.empty()) error = "memory store: commit failed";
      }
      lock.lock();
      if (error.empty()) {
        acknowledged_ += committing_.size();
      } else {
        failure_ = error;
        filling_.clear();  // nothing after a failed batch may be sent
        filling_bytes_ = 0;
      }
      committing_.clear();
      busy_ = false;
      progress_.notify_all();
      continue;
    }
    if (stopping_) return;
    if (filling_.empty())
      work_.wait(lock);
    else
      work_.wait_until(lock, filling_since_ + batch_age);
  }
}

}  // namespace mq::memory
