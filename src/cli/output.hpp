#pragma once
// Formatting envelopes and writing them to stdout.

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mq/envelope.hpp"

namespace mq::cli {

enum class Format { json, pip, payload, templated };

struct OutputOptions {
  Format format = Format::json;
  std::string template_text;  // --format '{topic} {message}'
  bool pretty = false;
  std::optional<std::string> delimiter_text;  // -d: after each payload or template (default \n)
  bool nul = false;                           // -0
};

// --format, --pretty, -d/--delimiter, -0
void add_output_options(CLI::App& app, OutputOptions& options);

// One --format template, compiled: literal text and the fields between braces.
class Template {
 public:
  // Throws UsageError naming what is wrong.
  explicit Template(std::string_view text);
  void append(std::string& out, const Envelope& envelope) const;
  // The template ends with its own line end (kcat style): add none.
  bool ends_line() const;
  // The names that may go between braces, for help and errors.
  static std::vector<std::string> field_names();

 private:
  enum class Field {
    literal, message_id, correlation_id, message_type, sent_time, message, queue, topic, partition, offset,
    key, timestamp, qos, retained, lock_token, delivery_count, headers, header,
  };
  struct Piece {
    Field field;
    std::string text;  // the literal, or the header's name
  };
  std::vector<Piece> pieces_;
};

class Formatter {
 public:
  explicit Formatter(const OutputOptions& options);
  // Appends one message's output, its line end included.
  void append(std::string& out, const Envelope& envelope) const;

 private:
  void append_pretty(std::string& out, const Envelope& envelope) const;

  Format format_;
  bool pretty_;
  bool colour_;
  std::string delimiter_;
  std::optional<Template> template_;
};

// JSON indented by two, with ANSI colours for keys, strings, numbers and
// literals when `colour`; the same text as nlohmann's dump(2) without.
void append_pretty_json(std::string& out, std::string_view compact_json, bool colour);

// Colour on stdout: a terminal, and NO_COLOR not set (to anything, even empty).
bool stdout_wants_colour();

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
