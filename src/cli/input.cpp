#include "cli/input.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "mq/error.hpp"

namespace mq::cli {

namespace {

constexpr std::size_t chunk_size = 1 << 20;

[[noreturn]] void read_failed(const std::string& name) {
  throw Error(ExitCode::bad_input, fmt::format("cannot read {}: {}", name, std::strerror(errno)));
}

}  // namespace

std::string parse_delimiter(const std::string& text) {
  if (text == "\\n") return "\n";
  if (text == "\\t") return "\t";
  if (text == "\\r") return "\r";
  if (text == "\\0") return std::string(1, '\0');
  if (text == "\\\\") return "\\";
  if (text.size() == 1) return text;
  throw UsageError(fmt::format("--delimiter: expected one character or \\n, \\t, \\0, got \"{}\"", text));
}

int open_input(const std::string& path) {
  if (path == "-") return STDIN_FILENO;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw UsageError(fmt::format("{}: {}", path, std::strerror(errno)));
  return fd;
}

std::string read_all(int fd, const std::string& name) {
  std::string content;
  struct stat info;
  if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0)
    content.reserve(static_cast<std::size_t>(info.st_size));
  std::size_t used = 0;
  while (true) {
    if (content.size() - used < chunk_size / 4) content.resize(std::max(used + chunk_size, content.size() * 2));
    ssize_t n = ::read(fd, content.data() + used, content.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      read_failed(name);
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  content.resize(used);
  return content;
}

RecordReader::RecordReader(int fd, std::string name, char delimiter)
    : fd_(fd), name_(std::move(name)), delimiter_(delimiter), buffer_(chunk_size) {
  struct stat info;
  if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode)) may_stall_ = false;
}

bool RecordReader::fill() {
  if (eof_) return false;
  // Keep the unconsumed tail, at the front; grow only for a record longer than the buffer.
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
  if (may_stall_ && on_stall_) {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, 0) == 0) on_stall_();
  }
  while (true) {
    ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (n < 0) {
      if (errno == EINTR) continue;
      read_failed(name_);
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    end_ += static_cast<std::size_t>(n);
    return true;
  }
}

std::optional<std::string_view> RecordReader::next() {
  while (true) {
    const char* start = buffer_.data() + begin_;
    const void* found = std::memchr(start + scanned_, delimiter_, end_ - begin_ - scanned_);
    if (found) {
      auto length = static_cast<std::size_t>(static_cast<const char*>(found) - start);
      begin_ += length + 1;
      scanned_ = 0;
      ++record_number_;
      return std::string_view(start, length);
    }
    scanned_ = end_ - begin_;
    if (!fill()) break;
  }
  if (begin_ == end_) return std::nullopt;
  std::string_view last(buffer_.data() + begin_, end_ - begin_);
  begin_ = end_;
  scanned_ = 0;
  ++record_number_;
  return last;
}

}  // namespace mq::cli
