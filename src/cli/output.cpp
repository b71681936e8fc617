#include "cli/output.hpp"

#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "mq/envelope_json.hpp"
#include "mq/error.hpp"

namespace mq::cli {

void add_output_options(CLI::App& app, OutputOptions& options) {
  auto* format = app.add_option_function<std::string>(
      "--format",
      [&options](const std::string& value) {
        if (value == "json") options.format = Format::json;
        else if (value == "pip") options.format = Format::pip;
        else if (value == "payload") options.format = Format::payload;
        else options.format = Format::templated, options.template_text = value;
      },
      "json: one envelope per line (default); pip: the pip-services serialized envelope; payload: only the "
      "message bytes; or a template such as '{topic} {partition}:{offset} {message}' (fields: mq receive --help)");
  format->type_name("FORMAT");
  format->check(CLI::Validator(
      [](std::string& value) -> std::string {
        if (value == "json" || value == "pip" || value == "payload") return {};
        if (value.find('{') == std::string::npos)
          return fmt::format("\"{}\" is none of json, pip, payload, nor a template like '{{topic}} {{message}}'",
                             value);
        try {
          Template checked(value);
        } catch (const Error& bad) {
          return bad.what();
        }
        return {};
      },
      ""));
  app.add_flag("--pretty", options.pretty, "Indent the JSON; colours too, on a terminal unless NO_COLOR is set");
  app.add_option_function<std::string>(
         "-d,--delimiter", [&options](const std::string& value) { options.delimiter_text = value; },
         "What follows each message with --format payload or a template (default \\n; '' for nothing)")
      ->type_name("C");
  app.add_flag("-0", options.nul, "NUL after each message with --format payload or a template");
}

// ---- templates ---------------------------------------------------------------

namespace {

constexpr std::string_view header_prefix = "header.";

}  // namespace

std::vector<std::string> Template::field_names() {
  return {"message_id", "correlation_id", "message_type", "sent_time", "message",   "queue",
          "topic",      "partition",      "offset",       "key",       "timestamp", "qos",
          "retained",   "lock_token",     "delivery_count", "headers", "header.NAME"};
}

Template::Template(std::string_view text) {
  static const std::map<std::string, Field, std::less<>> fields = {
      {"message_id", Field::message_id}, {"correlation_id", Field::correlation_id},
      {"message_type", Field::message_type}, {"sent_time", Field::sent_time},
      {"message", Field::message},       {"queue", Field::queue},
      {"topic", Field::topic},           {"partition", Field::partition},
      {"offset", Field::offset},         {"key", Field::key},
      {"timestamp", Field::timestamp},   {"qos", Field::qos},
      {"retained", Field::retained},     {"lock_token", Field::lock_token},
      {"delivery_count", Field::delivery_count}, {"headers", Field::headers},
  };
  std::string literal;
  auto flush_literal = [&] {
    if (!literal.empty()) pieces_.push_back({Field::literal, std::move(literal)});
    literal.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      switch (text[i + 1]) {
        case 'n': literal += '\n'; break;
        case 't': literal += '\t'; break;
        case 'r': literal += '\r'; break;
        case '0': literal += '\0'; break;
        case '\\': literal += '\\'; break;
        default: literal += c; literal += text[i + 1]; break;
      }
      ++i;
    } else if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      literal += c;  // {{ and }} are literal braces
      ++i;
    } else if (c == '{') {
      auto close = text.find('}', i + 1);
      if (close == std::string_view::npos)
        throw UsageError(fmt::format("'{{' at {} is never closed (write {{{{ for a brace)", i + 1));
      std::string_view name = text.substr(i + 1, close - i - 1);
      flush_literal();
      if (name.substr(0, header_prefix.size()) == header_prefix && name.size() > header_prefix.size()) {
        pieces_.push_back({Field::header, std::string(name.substr(header_prefix.size()))});
      } else if (auto it = fields.find(name); it != fields.end()) {
        pieces_.push_back({it->second, {}});
      } else {
        std::vector<std::string> known;
        for (const auto& [known_name, field] : fields) known.push_back(known_name);
        auto guess = nearest_name(name, known);
        throw UsageError(fmt::format("unknown field {{{}}}{} (fields: {})", name,
                                     guess ? fmt::format("; did you mean {{{}}}?", *guess) : "",
                                     fmt::join(field_names(), ", ")));
      }
      i = close;
    } else {
      literal += c;
    }
  }
  flush_literal();
}

bool Template::ends_line() const {
  if (pieces_.empty() || pieces_.back().field != Field::literal) return false;
  char last = pieces_.back().text.back();
  return last == '\n' || last == '\0';
}

namespace {

void append_optional(std::string& out, const std::optional<std::string>& value) {
  if (value) out += *value;
}

template <typename T>
void append_number(std::string& out, const std::optional<T>& value) {
  if (value) fmt::format_to(std::back_inserter(out), "{}", *value);
}

}  // namespace

void Template::append(std::string& out, const Envelope& envelope) const {
  for (const auto& piece : pieces_) {
    switch (piece.field) {
      case Field::literal: out += piece.text; break;
      case Field::message_id: out += envelope.message_id; break;
      case Field::correlation_id: append_optional(out, envelope.correlation_id); break;
      case Field::message_type: append_optional(out, envelope.message_type); break;
      case Field::sent_time:
        if (envelope.sent_time != TimePoint{}) append_time(out, envelope.sent_time);
        break;
      case Field::message: out += envelope.payload; break;
      case Field::queue: append_optional(out, envelope.queue); break;
      case Field::topic: append_optional(out, envelope.topic); break;
      case Field::partition: append_number(out, envelope.partition); break;
      case Field::offset: append_number(out, envelope.offset); break;
      case Field::key: append_optional(out, envelope.key); break;
      case Field::timestamp:
        if (envelope.timestamp) append_time(out, *envelope.timestamp);
        break;
      case Field::qos: append_number(out, envelope.qos); break;
      case Field::retained:
        if (envelope.retained) out += *envelope.retained ? "true" : "false";
        break;
      case Field::lock_token: append_optional(out, envelope.lock_token); break;
      case Field::delivery_count: append_number(out, envelope.delivery_count); break;
      case Field::headers:
        if (!envelope.headers.empty()) {
          out += '{';
          for (std::size_t h = 0; h < envelope.headers.size(); ++h) {
            if (h) out += ',';
            append_json_string(out, envelope.headers[h].name);
            out += ':';
            append_json_string(out, envelope.headers[h].value);
          }
          out += '}';
        }
        break;
      case Field::header:
        for (const auto& header : envelope.headers)
          if (header.name == piece.text) {
            out += header.value;
            break;
          }
        break;
    }
  }
}

// ---- formatting ----------------------------------------------------------------

bool stdout_wants_colour() { return ::isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr; }

namespace {

std::string delimiter_for(const OutputOptions& options, const std::optional<Template>& compiled) {
  if (options.nul) return std::string(1, '\0');
  if (options.delimiter_text) return options.delimiter_text->empty() ? std::string() : parse_delimiter(*options.delimiter_text);
  if (compiled && compiled->ends_line()) return {};
  return "\n";
}

}  // namespace

Formatter::Formatter(const OutputOptions& options)
    : format_(options.format),
      pretty_(options.pretty),
      colour_(options.pretty && stdout_wants_colour()),
      template_(options.format == Format::templated ? std::optional<Template>(std::in_place, options.template_text)
                                                    : std::nullopt) {
  delimiter_ = delimiter_for(options, template_);
}

void Formatter::append(std::string& out, const Envelope& envelope) const {
  switch (format_) {
    case Format::payload:
      out += envelope.payload;
      out += delimiter_;
      return;
    case Format::templated:
      template_->append(out, envelope);
      out += delimiter_;
      return;
    case Format::json:
    case Format::pip:
      if (pretty_) append_pretty(out, envelope);
      else append_envelope_json(out, envelope, format_ == Format::pip ? EnvelopeForm::pip : EnvelopeForm::native);
      out += '\n';
      return;
  }
}

void Formatter::append_pretty(std::string& out, const Envelope& envelope) const {
  append_pretty_json(out, to_json(envelope, format_ == Format::pip ? EnvelopeForm::pip : EnvelopeForm::native),
                     colour_);
}

namespace {

constexpr const char* colour_key = "\x1b[1;34m";
constexpr const char* colour_string = "\x1b[32m";
constexpr const char* colour_number = "\x1b[36m";
constexpr const char* colour_literal = "\x1b[33m";
constexpr const char* colour_reset = "\x1b[0m";

void append_coloured(std::string& out, const char* colour, const std::string& text) {
  out += colour;
  out += text;
  out += colour_reset;
}

void append_value(std::string& out, const nlohmann::ordered_json& value, int depth) {
  auto indent = [&](int level) { out.append(static_cast<std::size_t>(level) * 2, ' '); };
  if (value.is_object() || value.is_array()) {
    bool object = value.is_object();
    if (value.empty()) {
      out += object ? "{}" : "[]";
      return;
    }
    out += object ? "{\n" : "[\n";
    std::size_t left = value.size();
    for (auto it = value.begin(); it != value.end(); ++it) {
      indent(depth + 1);
      if (object) {
        append_coloured(out, colour_key, nlohmann::ordered_json(it.key()).dump());
        out += ": ";
      }
      append_value(out, it.value(), depth + 1);
      out += --left ? ",\n" : "\n";
    }
    indent(depth);
    out += object ? '}' : ']';
  } else if (value.is_string()) {
    append_coloured(out, colour_string, value.dump());
  } else if (value.is_number()) {
    append_coloured(out, colour_number, value.dump());
  } else {
    append_coloured(out, colour_literal, value.dump());
  }
}

}  // namespace

void append_pretty_json(std::string& out, std::string_view compact_json, bool colour) {
  // ordered_json keeps the envelope's key order.
  auto document = nlohmann::ordered_json::parse(compact_json);
  if (colour) append_value(out, document, 0);
  else out += document.dump(2);
}

OutputWriter::OutputWriter(int fd) : fd_(fd) {
  struct stat info;
  if (::fstat(fd, &info) == 0 && (S_ISFIFO(info.st_mode) || S_ISSOCK(info.st_mode))) {
    kind_ = Kind::stream;
    socket_ = S_ISSOCK(info.st_mode);
  }
}

bool OutputWriter::flush() {
  std::size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      pollfd writable{fd_, POLLOUT, 0};
      ::poll(&writable, 1, -1);
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET) {
      buffer_.clear();
      return false;
    }
    throw Error(ExitCode::broker, fmt::format("cannot write the output: {}", std::strerror(errno)));
  }
  buffer_.clear();
  return true;
}

bool OutputWriter::wait_until_read(const std::function<void()>& before_sleeping) {
  if (kind_ != Kind::stream) return true;
  using namespace std::chrono_literals;
  auto pause = 10us;
  for (int round = 0;; ++round) {
    // Whether the reader is gone is asked first: a reader that takes the last
    // line and exits between the two questions must not look like one that
    // left it unread.
    pollfd hangup{fd_, 0, 0};
    bool reader_gone = ::poll(&hangup, 1, 0) > 0 && (hangup.revents & (POLLERR | POLLHUP | POLLNVAL));
    int unread = 0;
    // A pipe counts the bytes still in it; a socket those its peer has not taken.
    if (::ioctl(fd_, socket_ ? TIOCOUTQ : FIONREAD, &unread) != 0) return true;
    // A socket's peer that closes discards what it had not read, which also
    // empties our count; a pipe keeps unread bytes, so an empty pipe was read.
    if (unread <= 0) return !(socket_ && reader_gone);
    if (reader_gone) return false;
    if (round < 50) {
      sched_yield();
    } else {
      if (round == 50 && before_sleeping) before_sleeping();
      std::this_thread::sleep_for(pause);
      pause = std::min<std::chrono::microseconds>(pause * 2, 1ms);
    }
  }
}

}  // namespace mq::cli
