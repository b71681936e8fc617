#include "cli/progress.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>

namespace mq::cli {

namespace {

constexpr std::chrono::milliseconds terminal_interval{100};
constexpr std::chrono::seconds log_interval{1};

bool same_terminal(int a, int b) {
  struct stat first, second;
  return ::isatty(a) && ::isatty(b) && ::fstat(a, &first) == 0 && ::fstat(b, &second) == 0 &&
         first.st_rdev == second.st_rdev;
}

}  // namespace

std::string group_digits(std::uint64_t number) {
  std::string digits = std::to_string(number);
  std::string grouped;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return grouped;
}

Progress::Progress(Mode mode, std::string verb, std::optional<std::uint64_t> total)
    : verb_(std::move(verb)), total_(total), start_(Clock::now()) {
  terminal_ = ::isatty(STDERR_FILENO);
  // A log gets its first line after a second of work, as every later one.
  next_draw_ = terminal_ ? start_ : start_ + std::chrono::duration_cast<Clock::duration>(log_interval);
  shares_stdout_ = same_terminal(STDOUT_FILENO, STDERR_FILENO);
  switch (mode) {
    case Mode::never: break;
    case Mode::always: enabled_ = true; break;
    case Mode::automatic:
      enabled_ = terminal_ && total_.value_or(automatic_threshold) >= automatic_threshold;
      quiet_below_ = automatic_threshold;
      break;
  }
}

Progress::~Progress() {
  if (on_screen_) erase();
}

void Progress::tick(std::uint64_t done) {
  auto now = Clock::now();
  if (now < next_draw_) return;
  next_draw_ = now + (terminal_ ? std::chrono::duration_cast<Clock::duration>(terminal_interval)
                                : std::chrono::duration_cast<Clock::duration>(log_interval));
  draw(done, false);
}

void Progress::draw(std::uint64_t done, bool last) {
  double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  std::string line = fmt::format("mq: {} {}", verb_, group_digits(done));
  if (total_ && !last) line += fmt::format(" of {}", group_digits(*total_));
  line += done == 1 ? " message" : " messages";
  if (last) line += fmt::format(" in {:.2f} s", seconds);
  if (seconds > 0) line += fmt::format(" ({} msg/s)", group_digits(static_cast<std::uint64_t>(done / seconds)));
  drawn_ = true;
  if (!terminal_) {
    write(line + "\n");
    return;
  }
  // Spaces, not an escape sequence, wipe a longer line before: any terminal will do.
  std::size_t width = line.size();
  if (line.size() < line_width_) line.append(line_width_ - line.size(), ' ');
  line_width_ = width;
  write("\r" + line + (last ? "\n" : ""));
  on_screen_ = !last;
}

void Progress::erase() {
  write("\r" + std::string(line_width_, ' ') + "\r");
  on_screen_ = false;
  line_width_ = 0;
}

void Progress::finish(std::uint64_t done) {
  if (!enabled_ || (done < quiet_below_ && !drawn_)) return;
  draw(done, true);
  enabled_ = false;
}

void Progress::write(const std::string& text) const {
  std::size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(STDERR_FILENO, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // progress is a courtesy: never an error
    written += static_cast<std::size_t>(n);
  }
}

void add_progress_options(CLI::App& app, Progress::Mode& mode) {
  app.add_flag_callback("--progress", [&mode] { mode = Progress::Mode::always; },
                        "Show a live count and rate on stderr, even when it is not a terminal");
  app.add_flag_callback("--no-progress", [&mode] { mode = Progress::Mode::never; },
                        "Never show progress (default: on a terminal, past 2,000 messages)");
}

}  // namespace mq::cli
