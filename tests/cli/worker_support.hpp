#pragma once
// Shared by the worker tests (mq listen --exec) of every backend: handler
// scripts in the test's directory, and waiting for what they leave behind.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "process.hpp"

namespace workertest {

using namespace std::chrono_literals;

// Shell functions for the handler scripts. wait_for never waits for ever: a
// test that failed half-way must not leave handlers behind.
inline const std::string prelude =
    "#!/bin/sh\n"
    "wait_for() { n=0; while [ ! -e \"$1\" ]; do sleep 0.05; n=$((n+1)); [ $n -gt 1200 ] && exit 99; done; }\n"
    // Counts this handler's runs for one key (a payload); prints the new count.
    "bump() { f=\"$DIR/count.$1\"; n=$(cat \"$f\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$f\"; echo $n; }\n";

// Writes an executable handler script into `dir` and returns its path.
inline std::string script(const std::filesystem::path& dir, const std::string& name, const std::string& body) {
  auto path = dir / name;
  mqtest::write_file(path, prelude + body);
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path.string();
}

// Polls `condition` until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 60s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

inline bool file_exists(const std::filesystem::path& path) { return std::filesystem::exists(path); }

inline std::string read_or_empty(const std::filesystem::path& path) {
  return file_exists(path) ? mqtest::read_file(path) : std::string();
}

}  // namespace workertest
