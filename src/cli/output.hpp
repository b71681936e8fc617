#pragma once
// Formatting envelopes and writing them to stdout.

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "mq/envelope.hpp"

namespace mq::cli {

enum class Format { json, pip, payload };

struct OutputOptions {
  Format format = Format::json;
  bool pretty = false;
  std::string delimiter_text = "\\n";  // after each payload in --format payload
  bool nul = false;                    // -0
};

// --format, --pretty, -d/--delimiter, -0
void add_output_options(CLI::App& app, OutputOptions& options);

class Formatter {
 public:
  explicit Formatter(const OutputOptions& options);
  // Appends one message's output, its line end included.
  void append(std::string& out, const Envelope& envelope) const;

 private:
  Format format_;
  bool pretty_;
  std::string delimiter_;
};

// Writes to a file descriptor with our own buffer (no stdio), and knows
// whether a reader has taken what was written.
class OutputWriter {
 public:
  explicit OutputWriter(int fd = 1);

  // A pipe or socket: bytes written may sit unread in a kernel buffer.
  bool is_stream() const { return kind_ == Kind::stream; }

  std::string& buffer() { return buffer_; }
  // Writes the whole buffer and empties it. False when the reader went away.
  bool flush();
  // Streams: waits until the reader has read every byte written. False when
  // it went away first. Other outputs: true at once. `before_sleeping` runs
  // once if the reader is slow enough that the wait goes to sleep.
  bool wait_until_read(const std::function<void()>& before_sleeping = {});

 private:
  enum class Kind { file, stream };
  int fd_;
  Kind kind_ = Kind::file;
  bool socket_ = false;
  std::string buffer_;
};

}  // namespace mq::cli
