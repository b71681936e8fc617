#include "cli/commands.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace mq::cli {

const CLI::Validator& positive_count() {
  static const CLI::Validator validator(
      [](std::string& text) -> std::string {
        bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        if (digits && text.find_first_not_of('0') != std::string::npos) return {};
        return "expected a whole number of at least 1, got \"" + text + "\"";
      },
      "");
  return validator;
}

std::string describe(Duration duration) {
  auto ms = duration.count();
  if (ms % 60'000 == 0 && ms != 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::string help_footer(const std::string& notes, const std::vector<std::string>& examples) {
  std::string text = notes;
  if (!text.empty()) text += "\n\n";
  text += examples.size() == 1 ? "Example:\n" : "Examples:\n";
  for (std::size_t i = 0; i < examples.size(); ++i) text += (i ? "\n  " : "  ") + examples[i];
  return text;
}

namespace {

// Optimal string alignment distance: insertions, deletions, substitutions
// and swaps of neighbours each cost one ("recieve" is one from "receive").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

}  // namespace

std::optional<std::string> nearest_name(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.empty()) return std::nullopt;
  // "--form" means "--format" when nothing else starts so.
  std::optional<std::string> only_prefixed;
  std::size_t prefixed = 0;
  for (const auto& candidate : candidates)
    if (candidate.size() > word.size() && candidate.compare(0, word.size(), word) == 0) {
      only_prefixed = candidate;
      ++prefixed;
    }
  std::string_view bare = word.substr(std::min(word.find_first_not_of('-'), word.size()));
  if (prefixed == 1 && bare.size() >= 2) return only_prefixed;

  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (const auto& candidate : candidates) {
    std::size_t distance = edit_distance(word, candidate);
    if (!best || distance < best_distance) best = candidate, best_distance = distance;
  }
  // Near means a slip of the fingers, not another word: at most a third of
  // the letters, and at least one; a word of one or two letters is no slip.
  if (bare.size() < 3) return std::nullopt;
  std::size_t allowed = std::max<std::size_t>(1, std::min<std::size_t>(3, bare.size() / 3));
  if (best && best_distance <= allowed) return best;
  return std::nullopt;
}

}  // namespace mq::cli
