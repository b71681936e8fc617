#pragma once
// --verbose for the library. A backend never prints; it tells this sink what
// it is doing (connecting, subscribing, how long that took) and the program
// decides whether and where to show it. With no sink installed a call costs
// one branch and formats nothing.
//
// Lines must never hold a secret: name the user, never the password.

#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace mq {

// Receives one line (no newline) at a time; may be called from any thread,
// one call at a time.
using Narrator = std::function<void(std::string_view line)>;

// Installs the sink; an empty one turns narration off.
void set_narrator(Narrator narrator);
bool narrating() noexcept;
void narrate_line(std::string_view line);

template <typename... Args>
void narrate(fmt::format_string<Args...> format, Args&&... args) {
  if (narrating()) narrate_line(fmt::format(format, std::forward<Args>(args)...));
}

// How long a step took, for "connected in 3.2 ms".
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  std::chrono::steady_clock::duration elapsed() const { return std::chrono::steady_clock::now() - start_; }
  // "0.4 ms", "12 ms", "1.25 s"
  std::string text() const;

 private:
  std::chrono::steady_clock::time_point start_;
};

std::string describe_elapsed(std::chrono::steady_clock::duration elapsed);

}  // namespace mq
