// Progress of long runs: a live count and rate on stderr when it is a
// terminal, nothing when it is not; --progress and --no-progress force it.

#include <regex>

#include "shell_support.hpp"

using namespace mqtest;
using namespace clitest;
using namespace shelltest;

namespace {

// 20,000 numbered lines, well past the 2,000 after which progress shows.
constexpr int many = 20000;

std::string write_lines(const Sandbox& sandbox, int count) {
  std::string text;
  for (int i = 1; i <= count; ++i) text += std::to_string(i) + "\n";
  auto path = sandbox.dir.path() / ("lines-" + std::to_string(count));
  write_file(path, text);
  return path.string();
}

}  // namespace

TEST_CASE("shell: send --lines and receive -n N show count and rate on a terminal") {
  Sandbox sandbox;
  auto file = write_lines(sandbox, many);

  auto sent = in_terminal(sandbox, "$MQ send --lines < " + file);
  INFO(sent.out);
  REQUIRE(sent.exit_code == 0);
  // The last line stays: how many, how long, how fast.
  CHECK(std::regex_search(sent.out, std::regex(R"(mq: sent 20,000 messages in \d+\.\d\d s \([0-9,]+ msg/s\)\r?\n)")));
  // Redrawn in place with carriage returns, never scrolling.
  CHECK(contains(sent.out, "\rmq: sent "));
  REQUIRE(sandbox.mq({"count"}).out == std::to_string(many) + "\n");

  auto received = in_terminal(sandbox, "$MQ receive -n " + std::to_string(many) + " -w 0 > received.jsonl");
  INFO(received.out);
  REQUIRE(received.exit_code == 0);
  CHECK(std::regex_search(received.out,
                          std::regex(R"(mq: received 20,000 messages in \d+\.\d\d s \([0-9,]+ msg/s\)\r?\n)")));
  CHECK(lines(read_file(sandbox.dir.path() / "received.jsonl")).size() >= static_cast<std::size_t>(many));
  CHECK(sandbox.mq({"count"}).out == "0\n");
}

TEST_CASE("shell: no progress when stderr is no terminal, for short runs, or with --no-progress") {
  Sandbox sandbox;
  auto file = write_lines(sandbox, many);

  // Pipes: stderr stays empty.
  auto piped = sandbox.sh("$MQ send --lines < " + file);
  require_ok(piped);
  CHECK(piped.err.empty());
  auto received = sandbox.sh("$MQ receive -n " + std::to_string(many) + " -w 0 > /dev/null");
  require_ok(received);
  CHECK(received.err.empty());

  // A terminal, but stderr sent to a file: nothing there.
  auto to_file = in_terminal(sandbox, "$MQ send --lines < " + file + " 2> err.txt");
  REQUIRE(to_file.exit_code == 0);
  CHECK(read_file(sandbox.dir.path() / "err.txt").empty());
  CHECK(!contains(to_file.out, "msg/s"));

  // A terminal and a short run, or --no-progress: nothing either.
  auto short_run = in_terminal(sandbox, "seq 100 | $MQ send --lines");
  REQUIRE(short_run.exit_code == 0);
  CHECK(!contains(short_run.out, "msg/s"));
  auto refused = in_terminal(sandbox, "$MQ send --lines --no-progress < " + file);
  REQUIRE(refused.exit_code == 0);
  CHECK(!contains(refused.out, "msg/s"));
  auto small_receive = in_terminal(sandbox, "$MQ receive -n 100 -w 0 > /dev/null");
  REQUIRE(small_receive.exit_code == 0);
  CHECK(!contains(small_receive.out, "msg/s"));
  auto refused_receive = in_terminal(sandbox, "$MQ receive -n " + std::to_string(many) + " -w 0 --no-progress > /dev/null");
  REQUIRE(refused_receive.exit_code == 0);
  CHECK(!contains(refused_receive.out, "msg/s"));
}

TEST_CASE("shell: --progress forces progress lines onto a non-terminal stderr") {
  Sandbox sandbox;
  auto sent = sandbox.sh("seq 10 | $MQ send --lines --progress");
  require_ok(sent);
  // No terminal: whole lines, no carriage returns.
  CHECK(std::regex_match(sent.err, std::regex(R"((mq: sent [0-9,]+ messages \([0-9,]+ msg/s\)\n)*mq: sent 10 messages in \d+\.\d\d s( \([0-9,]+ msg/s\))?\n)")));
  auto received = sandbox.sh("$MQ receive -n 10 --progress > /dev/null");
  require_ok(received);
  CHECK(contains(received.err, "mq: received 10 messages in "));
  CHECK(!contains(received.err, "\r"));
}

TEST_CASE("shell: progress steps aside for messages printed on the same terminal") {
  Sandbox sandbox;
  auto file = write_lines(sandbox, many);
  require_ok(sandbox.mq({"send", "--lines", "-f", file}));
  auto shown = in_terminal(sandbox, "$MQ receive -n " + std::to_string(many) + " -w 0 --format '{message}'");
  REQUIRE(shown.exit_code == 0);
  // Every message is on a line of its own, none glued to a progress line:
  // what follows the last carriage return of a line is what the terminal shows.
  std::size_t messages = 0;
  for (const auto& line : lines(shown.out)) {
    std::string_view text = line;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (auto last_return = text.rfind('\r'); last_return != std::string_view::npos) text.remove_prefix(last_return + 1);
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) ++messages;
  }
  CHECK(messages == static_cast<std::size_t>(many));
  CHECK(contains(shown.out, "mq: received 20,000 messages in "));
}
