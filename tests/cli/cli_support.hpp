#pragma once
// Small helpers shared by the CLI tests.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "process.hpp"

namespace clitest {

inline std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (const auto& line : mqtest::lines(text))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

inline std::vector<std::string> payloads(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& envelope : json_lines(text)) out.push_back(envelope.at("message").get<std::string>());
  return out;
}

// An error is one stderr line "mq: <what>: <why>" and nothing on stdout.
inline void require_error_line(const mqtest::Result& result, int exit_code, const std::string& fragment = {}) {
  INFO("stderr: " << result.err << "\nstdout: " << result.out);
  REQUIRE(result.exit_code == exit_code);
  REQUIRE(result.out.empty());
  REQUIRE(result.err.rfind("mq: ", 0) == 0);
  REQUIRE(mqtest::lines(result.err).size() == 1);
  if (!fragment.empty()) REQUIRE(result.err.find(fragment) != std::string::npos);
}

inline std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

inline void require_ok(const mqtest::Result& result) {
  INFO("stderr: " << result.err << "\nstdout: " << result.out);
  REQUIRE(result.exit_code == 0);
}

}  // namespace clitest
