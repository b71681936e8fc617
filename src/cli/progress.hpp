#pragma once
// A live count and rate on stderr for long runs (send --lines, receive -n N):
// on a terminal the line is redrawn in place at most ten times a second; it
// appears once a few thousand messages went by, or from the start with
// --progress, which also writes it to a non-terminal (one line a second).

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace mq::cli {

class Progress {
 public:
  enum class Mode { automatic, always, never };

  // `verb` says what happened to the messages ("sent", "received"); `total`
  // is the most there will be, when known.
  Progress(Mode mode, std::string verb, std::optional<std::uint64_t> total = std::nullopt);
  ~Progress();  // takes away a line left unfinished (an error follows)
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(std::uint64_t done) {
    if (enabled_ && done >= quiet_below_) tick(done);
  }
  // Before output goes to the terminal that shows the line: take it away;
  // the next update draws it again.
  void erase_before_output() {
    if (on_screen_ && shares_stdout_) erase();
  }
  // The last line, ended by a newline, if any line was due.
  void finish(std::uint64_t done);

  // Messages after which the automatic mode starts to show progress.
  static constexpr std::uint64_t automatic_threshold = 2000;

 private:
  using Clock = std::chrono::steady_clock;

  void tick(std::uint64_t done);
  void draw(std::uint64_t done, bool last);
  void erase();
  void write(const std::string& text) const;

  bool enabled_ = false;
  bool terminal_ = false;       // stderr is a terminal: redraw in place
  bool shares_stdout_ = false;  // and stdout writes to the same one
  bool on_screen_ = false;
  bool drawn_ = false;
  std::uint64_t quiet_below_ = 0;
  std::string verb_;
  std::optional<std::uint64_t> total_;
  Clock::time_point start_;
  Clock::time_point next_draw_;
  std::size_t line_width_ = 0;
};

// --progress, --no-progress
void add_progress_options(CLI::App& app, Progress::Mode& mode);

// 1234567 -> "1,234,567"
std::string group_digits(std::uint64_t number);

}  // namespace mq::cli
