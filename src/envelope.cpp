#include "mq/envelope.hpp"

#include <fmt/format.h>

#include <charconv>
#include <random>

namespace mq {

std::string generate_message_id() {
  // Per-thread engine seeded once: ids are for uniqueness, not secrecy.
  thread_local std::mt19937_64 engine{[] {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
  }()};
  std::uint64_t high = engine();
  std::uint64_t low = engine();
  high = (high & ~std::uint64_t{0xF000}) | 0x4000;                       // version 4
  low = (low & ~(std::uint64_t{0xC} << 60)) | (std::uint64_t{0x8} << 60);  // variant 10
  std::string id(32, '0');
  static constexpr char digits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i, high >>= 4) id[i] = digits[high & 0xF];
  for (int i = 31; i >= 16; --i, low >>= 4) id[i] = digits[low & 0xF];
  return id;
}

TimePoint now_ms() { return std::chrono::time_point_cast<Duration>(Clock::now()); }

void append_time(std::string& out, TimePoint t) {
  // Formatting the date part is the expensive bit and it changes once a
  // second at most; remember the last one per thread.
  thread_local std::int64_t cached_second = INT64_MIN;
  thread_local char cached[20];
  auto millis = t.time_since_epoch().count();
  std::int64_t second = millis >= 0 ? millis / 1000 : (millis - 999) / 1000;
  int fraction = static_cast<int>(millis - second * 1000);
  if (second != cached_second) {
    auto days = std::chrono::floor<std::chrono::days>(std::chrono::sys_seconds{std::chrono::seconds{second}});
    std::chrono::year_month_day date{days};
    std::chrono::hh_mm_ss clock{std::chrono::seconds{second} - days.time_since_epoch()};
    fmt::format_to_n(cached, sizeof cached, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), clock.hours().count(),
                     clock.minutes().count(), clock.seconds().count());
    cached_second = second;
  }
  out.append(cached, 19);
  char tail[6] = {'.', static_cast<char>('0' + fraction / 100), static_cast<char>('0' + fraction / 10 % 10),
                  static_cast<char>('0' + fraction % 10), 'Z', 0};
  out.append(tail, 5);
}

std::string format_time(TimePoint t) {
  std::string out;
  append_time(out, t);
  return out;
}

namespace {

bool read_int(std::string_view& text, std::size_t digits, int& value) {
  if (text.size() < digits) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + digits, value);
  if (error != std::errc{} || end != text.data() + digits) return false;
  text.remove_prefix(digits);
  return true;
}

bool expect(std::string_view& text, char c) {
  if (text.empty() || (text.front() != c && !(c == 'T' && (text.front() == 't' || text.front() == ' '))))
    return false;
  text.remove_prefix(1);
  return true;
}

}  // namespace

std::optional<TimePoint> parse_time(std::string_view text) {
  int year, month, day, hour, minute, second;
  if (!read_int(text, 4, year) || !expect(text, '-') || !read_int(text, 2, month) || !expect(text, '-') ||
      !read_int(text, 2, day) || !expect(text, 'T') || !read_int(text, 2, hour) || !expect(text, ':') ||
      !read_int(text, 2, minute) || !expect(text, ':') || !read_int(text, 2, second))
    return std::nullopt;
  int millis = 0;
  if (!text.empty() && text.front() == '.') {
    text.remove_prefix(1);
    int scale = 100, digits = 0;
    while (!text.empty() && text.front() >= '0' && text.front() <= '9') {
      millis += (text.front() - '0') * scale;
      scale /= 10;
      text.remove_prefix(1);
      ++digits;
    }
    if (digits == 0) return std::nullopt;
  }
  int offset_minutes = 0;
  if (!text.empty() && (text.front() == 'Z' || text.front() == 'z')) {
    text.remove_prefix(1);
  } else if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    int sign = text.front() == '-' ? -1 : 1;
    text.remove_prefix(1);
    int oh, om = 0;
    if (!read_int(text, 2, oh)) return std::nullopt;
    if (!text.empty() && text.front() == ':') text.remove_prefix(1);
    if (!text.empty() && !read_int(text, 2, om)) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else if (!text.empty()) {
    return std::nullopt;
  }
  if (!text.empty()) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month(static_cast<unsigned>(month)),
                                   std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  auto point = std::chrono::sys_days{date} + std::chrono::hours{hour} + std::chrono::minutes{minute - offset_minutes} +
               std::chrono::seconds{second} + std::chrono::milliseconds{millis};
  return std::chrono::time_point_cast<Duration>(point);
}

void stamp(Envelope& envelope) {
  if (envelope.message_id.empty()) envelope.message_id = generate_message_id();
  if (envelope.sent_time.time_since_epoch().count() == 0) envelope.sent_time = now_ms();
}

}  // namespace mq
