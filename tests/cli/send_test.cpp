// mq send: where messages come from, the fields flags set, and bad input.

#include "cli_support.hpp"

using namespace mqtest;
using namespace clitest;

namespace {

std::vector<std::string> drain(const Sandbox& sandbox, const std::string& queue = "memory://default") {
  auto result = sandbox.mq({"-q", queue, "receive", "-n", "100000", "-w", "0"});
  if (result.exit_code == 1) return {};
  REQUIRE(result.exit_code == 0);
  return payloads(result.out);
}

}  // namespace

TEST_CASE("send: each argument is one message") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "a b", "", "c"}));
  REQUIRE(drain(sandbox) == std::vector<std::string>{"a b", "", "c"});
}

TEST_CASE("send: all of stdin is one message and so is a --file") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send"}, "line 1\nline 2\n"));
  REQUIRE(drain(sandbox) == std::vector<std::string>{"line 1\nline 2\n"});
  write_file(sandbox.dir.path() / "f.txt", "from\nfile");
  require_ok(sandbox.mq({"send", "-f", (sandbox.dir.path() / "f.txt").string()}));
  REQUIRE(drain(sandbox) == std::vector<std::string>{"from\nfile"});
}

TEST_CASE("send -l: each line is a message with empty lines skipped and a last line without newline kept") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "-l"}, "one\n\ntwo\nthree"));
  REQUIRE(drain(sandbox) == std::vector<std::string>{"one", "two", "three"});
  write_file(sandbox.dir.path() / "lines", "x\ny\n");
  require_ok(sandbox.mq({"send", "-l", "-f", (sandbox.dir.path() / "lines").string()}));
  REQUIRE(drain(sandbox) == std::vector<std::string>{"x", "y"});
}

TEST_CASE("send -d and -0 split on other delimiters") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "-d", ","}, "a,b,c\n"));
  REQUIRE(drain(sandbox) == std::vector<std::string>{"a", "b", "c\n"});
  require_ok(sandbox.mq({"send", "-d", "\\t"}, "a\tb"));
  REQUIRE(drain(sandbox) == std::vector<std::string>{"a", "b"});
  require_ok(sandbox.mq({"send", "-0"}, std::string("p\nq\0r\0", 6)));
  REQUIRE(drain(sandbox) == std::vector<std::string>{"p\nq", "r"});
  require_ok(sandbox.mq({"send", "-d", "\\0"}, std::string("s\0t", 3)));
  REQUIRE(drain(sandbox) == std::vector<std::string>{"s", "t"});
}

TEST_CASE("send -l reads long lines and many lines") {
  Sandbox sandbox;
  std::string long_line(3 << 20, 'x');  // longer than the reader's buffer
  require_ok(sandbox.mq({"send", "-l"}, "short\n" + long_line + "\nend\n"));
  auto received = drain(sandbox);
  REQUIRE(received.size() == 3);
  REQUIRE(received[1] == long_line);
  REQUIRE(received[2] == "end");

  require_ok(sandbox.sh("seq 100000 | $MQ send -l"));
  REQUIRE(sandbox.mq({"count"}).out == "100000\n");
}

TEST_CASE("send flags set the envelope fields") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "--type", "order.created", "--correlation-id", "c-7", "--message-id", "m-1", "--key",
                         "k-1", "-H", "trace=x", "-H", "tenant=acme", "payload"}));
  auto received = sandbox.mq({"receive"});
  require_ok(received);
  auto envelope = json_lines(received.out).at(0);
  CHECK(envelope.at("message_id") == "m-1");
  CHECK(envelope.at("correlation_id") == "c-7");
  CHECK(envelope.at("message_type") == "order.created");
  CHECK(envelope.at("message") == "payload");
  CHECK(envelope.at("key") == "k-1");
  CHECK(envelope.at("headers") == nlohmann::json{{"trace", "x"}, {"tenant", "acme"}});
}

TEST_CASE("send --print echoes the acknowledged envelopes") {
  Sandbox sandbox;
  auto sent = sandbox.mq({"send", "--print", "--type", "t", "a", "b"});
  require_ok(sent);
  auto echoed = json_lines(sent.out);
  REQUIRE(echoed.size() == 2);
  auto received = json_lines(sandbox.mq({"receive", "-n", "2"}).out);
  REQUIRE(received.size() == 2);
  for (int i = 0; i < 2; ++i) {
    CHECK(echoed[i].at("message_id") == received[i].at("message_id"));
    CHECK(echoed[i].at("message_type") == "t");
    CHECK(echoed[i].at("message") == received[i].at("message"));
  }
  // Without --print, send prints nothing.
  REQUIRE(sandbox.mq({"send", "quiet"}).out.empty());
}

TEST_CASE("send -e: a malformed line is exit 5 naming it with lines before sent and none after") {
  Sandbox sandbox;
  std::string input =
      "{\"message\":\"one\"}\n"
      "\n"
      "{\"message\":\"two\"}\n"
      "{\"message\": oops}\n"
      "{\"message\":\"after\"}\n";
  auto result = sandbox.mq({"send", "-e"}, input);
  require_error_line(result, 5, "line 4");
  REQUIRE(result.err.rfind("mq: send: line 4: ", 0) == 0);
  REQUIRE(drain(sandbox) == std::vector<std::string>{"one", "two"});

  auto missing = sandbox.mq({"send", "-e"}, "{\"message\":\"ok\"}\n{\"no_message\":1}\n");
  require_error_line(missing, 5, "line 2");
  REQUIRE(drain(sandbox) == std::vector<std::string>{"ok"});
}

TEST_CASE("send -l acknowledges a slow producer's lines as they come") {
  Sandbox sandbox;
  // The producer waits until the first line is in the queue before writing
  // the second: send must not hold lines back while its input is quiet.
  auto result = sandbox.sh(
      "{ echo first; i=0; until [ \"$($MQ count)\" = 1 ]; do i=$((i+1)); "
      "if [ $i -gt 400 ]; then echo 'first line never arrived' >&2; break; fi; sleep 0.05; done; "
      "echo second; } | $MQ send -l && $MQ count");
  REQUIRE(result.err.empty());
  require_ok(result);
  REQUIRE(result.out == "2\n");
  REQUIRE(drain(sandbox) == std::vector<std::string>{"first", "second"});
}

TEST_CASE("send: arguments after -- are messages even when they look like options") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "--", "-n", "--help"}));
  require_ok(sandbox.mq({"send", "first", "-q", "memory://default", "--", "-x", "count"}));
  REQUIRE(drain(sandbox) == std::vector<std::string>{"-n", "--help", "first", "-x", "count"});
  require_error_line(sandbox.mq({"count", "--", "extra"}), 2, "extra");
}
