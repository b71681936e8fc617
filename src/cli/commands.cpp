#include "cli/commands.hpp"

#include <fmt/format.h>

namespace mq::cli {

const CLI::Validator& positive_count() {
  static const CLI::Validator validator(
      [](std::string& text) -> std::string {
        bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        if (digits && text.find_first_not_of('0') != std::string::npos) return {};
        return "expected a whole number of at least 1, got \"" + text + "\"";
      },
      "N");
  return validator;
}

std::string describe(Duration duration) {
  auto ms = duration.count();
  if (ms % 60'000 == 0 && ms != 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

}  // namespace mq::cli
