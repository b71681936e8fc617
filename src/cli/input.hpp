#pragma once
// Reading messages for send: whole inputs, and delimited records read in big
// chunks (no per-record allocation).

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mq::cli {

// "\n", "\t", "\0", "\\" or a single character. Throws UsageError.
std::string parse_delimiter(const std::string& text);

// Opens PATH for reading ("-" is stdin); the returned descriptor is owned by
// the caller. Throws UsageError naming the file.
int open_input(const std::string& path);

// Everything until end of input.
std::string read_all(int fd, const std::string& name);

class RecordReader {
 public:
  RecordReader(int fd, std::string name, char delimiter);
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // Called before a read that would block: the input has stalled, so what
  // was read so far should not wait for more.
  void on_stall(std::function<void()> callback) { on_stall_ = std::move(callback); }

  // The next record without its delimiter, valid until the next call;
  // nullopt at end of input. A last record without a delimiter counts.
  std::optional<std::string_view> next();

  // 1-based number of the record next() returned last.
  std::size_t record_number() const { return record_number_; }

 private:
  bool fill();  // false at end of input

  int fd_;
  std::string name_;
  char delimiter_;
  std::function<void()> on_stall_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;     // first unconsumed byte
  std::size_t end_ = 0;       // one past the last byte read
  std::size_t scanned_ = 0;   // bytes from begin_ known to hold no delimiter
  bool eof_ = false;
  bool may_stall_ = true;     // false for regular files, which never block
  std::size_t record_number_ = 0;
};

}  // namespace mq::cli
