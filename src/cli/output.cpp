#include "cli/output.hpp"

#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/input.hpp"
#include "mq/envelope_json.hpp"
#include "mq/error.hpp"

namespace mq::cli {

void add_output_options(CLI::App& app, OutputOptions& options) {
  static const std::map<std::string, Format> formats = {
      {"json", Format::json}, {"pip", Format::pip}, {"payload", Format::payload}};
  app.add_option("--format", options.format,
                 "json: one envelope per line (default); pip: the pip-services serialized envelope; "
                 "payload: only the message bytes")
      ->transform(CLI::CheckedTransformer(formats))
      ->type_name("FORMAT");
  app.add_flag("--pretty", options.pretty, "Indent the JSON");
  app.add_option("-d,--delimiter", options.delimiter_text, "What follows each payload with --format payload (default \\n; '' for nothing)")
      ->type_name("C");
  app.add_flag("-0", options.nul, "NUL after each payload with --format payload");
}

Formatter::Formatter(const OutputOptions& options)
    : format_(options.format),
      pretty_(options.pretty),
      delimiter_(options.nul                         ? std::string(1, '\0')
                 : options.delimiter_text.empty() ? std::string()
                                                  : parse_delimiter(options.delimiter_text)) {}

void Formatter::append(std::string& out, const Envelope& envelope) const {
  if (format_ == Format::payload) {
    out += envelope.payload;
    out += delimiter_;
    return;
  }
  auto form = format_ == Format::pip ? EnvelopeForm::pip : EnvelopeForm::native;
  if (!pretty_) {
    append_envelope_json(out, envelope, form);
  } else {
    // ordered_json keeps the envelope's key order.
    out += nlohmann::ordered_json::parse(to_json(envelope, form)).dump(2);
  }
  out += '\n';
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
    int unread = 0;
    // A pipe counts the bytes still in it; a socket those its peer has not taken.
    if (::ioctl(fd_, socket_ ? TIOCOUTQ : FIONREAD, &unread) != 0) return true;
    pollfd hangup{fd_, 0, 0};
    bool reader_gone = ::poll(&hangup, 1, 0) > 0 && (hangup.revents & (POLLERR | POLLHUP | POLLNVAL));
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
