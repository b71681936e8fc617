#include "mq/narrate.hpp"

#include <atomic>
#include <mutex>

namespace mq {

namespace {

std::atomic<bool> enabled{false};

struct Sink {
  std::mutex mutex;
  Narrator narrator;
};

Sink& sink() {
  static Sink instance;
  return instance;
}

}  // namespace

void set_narrator(Narrator narrator) {
  std::lock_guard lock(sink().mutex);
  enabled.store(static_cast<bool>(narrator), std::memory_order_release);
  sink().narrator = std::move(narrator);
}

bool narrating() noexcept { return enabled.load(std::memory_order_acquire); }

void narrate_line(std::string_view line) {
  std::lock_guard lock(sink().mutex);
  if (sink().narrator) sink().narrator(line);
}

std::string describe_elapsed(std::chrono::steady_clock::duration elapsed) {
  double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  if (ms < 10) return fmt::format("{:.1f} ms", ms);
  if (ms < 1000) return fmt::format("{:.0f} ms", ms);
  return fmt::format("{:.2f} s", ms / 1000);
}

std::string Stopwatch::text() const { return describe_elapsed(elapsed()); }

}  // namespace mq
