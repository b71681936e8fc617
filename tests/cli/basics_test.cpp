// The commands one by one, their exit codes and help.

#include <signal.h>

#include "cli_support.hpp"

using namespace mqtest;
using namespace clitest;

TEST_CASE("mq --version prints the version and mq --help lists the commands") {
  Sandbox sandbox;
  auto version = sandbox.mq({"--version"});
  REQUIRE(version.exit_code == 0);
  REQUIRE(version.out.rfind(std::string("mq ") + MQ_VERSION + " (librdkafka ", 0) == 0);

  auto help = sandbox.mq({"--help"});
  REQUIRE(help.exit_code == 0);
  for (const char* command : {"send", "receive", "peek", "count", "listen", "clear", "info", "config", "complete",
                              "abandon", "renew", "dead-letter"})
    CHECK(help.out.find(command) != std::string::npos);
}

TEST_CASE("every command's --help has a description and an example") {
  Sandbox sandbox;
  for (const char* command : {"send", "receive", "peek", "count", "listen", "clear", "info", "config", "complete",
                              "abandon", "renew", "dead-letter"}) {
    auto help = sandbox.mq({command, "--help"});
    INFO(command << ": " << help.out << help.err);
    REQUIRE(help.exit_code == 0);
    CHECK(help.out.find("Example") != std::string::npos);
    CHECK(help.out.find(std::string("mq ")) != std::string::npos);
  }
}

TEST_CASE("usage and configuration errors exit 2 with one line on stderr") {
  Sandbox sandbox;
  require_error_line(sandbox.mq({}), 2, "command");
  require_error_line(sandbox.mq({"frobnicate"}), 2, "frobnicate");
  require_error_line(sandbox.mq({"receive", "--bogus"}), 2, "--bogus");
  require_error_line(sandbox.mq({"receive", "-n", "many"}), 2, "many");
  require_error_line(sandbox.mq({"receive", "-w", "soon"}), 2, "soon");
  require_error_line(sandbox.mq({"-q", "carrier-pigeon://coop/x", "count"}), 2, "carrier-pigeon");
  require_error_line(sandbox.mq({"--backend", "telepathy", "count"}), 2, "telepathy");
  require_error_line(sandbox.mq({"--set", "no-equals-sign", "count"}), 2, "KEY=VALUE");
  require_error_line(sandbox.mq({"send", "-H", "no-equals", "x"}), 2, "NAME=VALUE");
  require_error_line(sandbox.mq({"send", "-d", "ab", "-f", "/dev/null"}), 2, "delimiter");
  require_error_line(sandbox.mq({"send", "-f", "/nonexistent/file"}), 2, "/nonexistent/file");
  require_error_line(sandbox.mq({"send", "-l", "x"}), 2);
  require_error_line(sandbox.mq({"receive", "--format", "xml"}), 2, "xml");
  require_error_line(sandbox.mq({"--config", sandbox.dir.str() + "/missing.json", "count"}), 2, "missing.json");
}

TEST_CASE("send then receive delivers in order and removes") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "one", "two", "three"}));
  auto received = sandbox.mq({"receive", "-n", "2"});
  require_ok(received);
  REQUIRE(payloads(received.out) == std::vector<std::string>{"one", "two"});
  auto envelope = json_lines(received.out).at(0);
  CHECK(envelope.at("message_id").get<std::string>().size() == 32);
  CHECK(envelope.contains("sent_time"));
  REQUIRE(trim(sandbox.mq({"count"}).out) == "1");
  REQUIRE(payloads(sandbox.mq({"receive", "-n", "10", "-w", "0"}).out) == std::vector<std::string>{"three"});
  REQUIRE(trim(sandbox.mq({"count"}).out) == "0");
}

TEST_CASE("receive and peek exit 1 when nothing arrived") {
  Sandbox sandbox;
  require_error_line(sandbox.mq({"receive", "-w", "0"}), 1, "nothing arrived within 0s");
  require_error_line(sandbox.mq({"receive", "-w", "200ms", "-n", "5"}), 1, "200ms");
  require_error_line(sandbox.mq({"peek"}), 1, "empty");
}

TEST_CASE("receive waits for the first message") {
  Sandbox sandbox;
  Process receiver({mq_binary(), "receive", "-w", "30s"}, sandbox.env, sandbox.dir.path(), "receiver");
  require_ok(sandbox.mq({"send", "late"}));
  auto status = receiver.wait(30s);
  INFO(receiver.err());
  REQUIRE(status == std::optional<int>(0));
  REQUIRE(payloads(receiver.out()) == std::vector<std::string>{"late"});
}

TEST_CASE("peek shows messages without removing them") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "a", "b", "c"}));
  auto one = sandbox.mq({"peek"});
  require_ok(one);
  REQUIRE(payloads(one.out) == std::vector<std::string>{"a"});
  auto some = sandbox.mq({"peek", "-n", "5"});
  REQUIRE(payloads(some.out) == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(trim(sandbox.mq({"count"}).out) == "3");
}

TEST_CASE("count prints one integer and clear empties the queue") {
  Sandbox sandbox;
  REQUIRE(sandbox.mq({"count"}).out == "0\n");
  require_ok(sandbox.sh("seq 25 | $MQ send -l"));
  REQUIRE(sandbox.mq({"count"}).out == "25\n");
  auto cleared = sandbox.mq({"clear"});
  require_ok(cleared);
  REQUIRE(cleared.out == "25\n");
  REQUIRE(sandbox.mq({"count"}).out == "0\n");
}

TEST_CASE("queues are separate and queue options may follow the command") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://left", "send", "L"}));
  require_ok(sandbox.mq({"send", "-q", "memory://right", "R"}));
  require_ok(sandbox.mq({"send", "--topic", "right", "R2"}));
  REQUIRE(sandbox.mq({"count", "-q", "memory://left"}).out == "1\n");
  REQUIRE(sandbox.mq({"-t", "right", "count"}).out == "2\n");
  REQUIRE(sandbox.mq({"count"}).out == "0\n");  // memory://default
}

TEST_CASE("listen streams until -n messages") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "1", "2", "3", "4"}));
  auto listened = sandbox.mq({"listen", "-n", "3"});
  require_ok(listened);
  REQUIRE(payloads(listened.out) == std::vector<std::string>{"1", "2", "3"});
  REQUIRE(sandbox.mq({"count"}).out == "1\n");
}

TEST_CASE("listen stops cleanly on SIGTERM and SIGINT") {
  for (int stop_signal : {SIGTERM, SIGINT}) {
    Sandbox sandbox;
    Process listener({mq_binary(), "listen"}, sandbox.env, sandbox.dir.path(), "listener");
    require_ok(sandbox.mq({"send", "first", "second"}));
    REQUIRE(listener.wait_for_output("second"));
    listener.signal(stop_signal);
    REQUIRE(listener.wait(30s) == 0);
    REQUIRE(payloads(listener.out()) == std::vector<std::string>{"first", "second"});
    REQUIRE(listener.err().empty());
    REQUIRE(sandbox.mq({"count"}).out == "0\n");
  }
}

TEST_CASE("receive --lock leaves messages locked for complete and abandon and renew and dead-letter") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "a", "b", "c", "d"}));
  auto locked = sandbox.mq({"receive", "-n", "4", "--lock", "5m"});
  require_ok(locked);
  auto envelopes = json_lines(locked.out);
  REQUIRE(envelopes.size() == 4);
  std::vector<std::string> tokens;
  for (const auto& envelope : envelopes) tokens.push_back(envelope.at("lock_token").get<std::string>());

  // Locked messages are not handed out again.
  require_error_line(sandbox.mq({"receive", "-w", "0"}), 1);

  require_ok(sandbox.mq({"complete", tokens[0]}));
  require_ok(sandbox.mq({"renew", tokens[1], "--lock", "10m"}));
  require_ok(sandbox.mq({"dead-letter", tokens[2]}));
  require_ok(sandbox.mq({"abandon", tokens[3]}));
  REQUIRE(payloads(sandbox.mq({"receive", "-w", "0", "-n", "10"}).out) == std::vector<std::string>{"d"});
  require_ok(sandbox.mq({"complete", tokens[1]}));
  require_error_line(sandbox.mq({"renew", tokens[1]}), 2, "--lock");
  require_error_line(sandbox.mq({"complete"}), 2);
}

TEST_CASE("info shows the configuration and the capability table") {
  Sandbox sandbox;
  auto info = sandbox.mq({"-q", "memory://jobs", "info"});
  require_ok(info);
  CHECK(info.out.find("memory") != std::string::npos);
  CHECK(info.out.find("jobs") != std::string::npos);
  for (const auto& row : {"send", "receive", "peek", "message count", "abandon", "renew lock", "dead letter", "clear"})
    CHECK(info.out.find(row) != std::string::npos);
  CHECK(info.out.find("supported") != std::string::npos);

  auto json = sandbox.mq({"-q", "memory://jobs", "info", "--json"});
  require_ok(json);
  auto document = nlohmann::json::parse(json.out);
  CHECK(document.at("backend") == "memory");
  CHECK(document.at("configuration").at("topic") == "jobs");
  CHECK(document.at("capabilities").at("peek") == true);
  CHECK(document.at("capabilities").at("message count") == true);
}

TEST_CASE("an unusable store is exit 3") {
  Sandbox sandbox;
  write_file(sandbox.dir.path() / "a-file", "not a directory");
  Env broken{{"MQ_MEMORY_DIR", (sandbox.dir.path() / "a-file" / "store").string()}};
  require_error_line(sandbox.mq({"send", "x"}, {}, broken), 3);
  require_error_line(sandbox.mq({"receive", "-w", "0"}, {}, broken), 3);
  // info still shows the configuration, then the failure.
  auto info = sandbox.mq({"info"}, {}, broken);
  REQUIRE(info.exit_code == 3);
  REQUIRE(info.out.find("configuration") != std::string::npos);
  REQUIRE(lines(info.err).size() == 1);
}

TEST_CASE("output formats pip and payload with delimiters and pretty JSON") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "--type", "t", "--correlation-id", "c", "hello", "world"}));

  auto pip = sandbox.mq({"peek", "--format", "pip"});
  require_ok(pip);
  auto pip_envelope = nlohmann::ordered_json::parse(pip.out);
  std::vector<std::string> keys;
  for (const auto& item : pip_envelope.items()) keys.push_back(item.key());
  REQUIRE(keys == std::vector<std::string>{"message_id", "correlation_id", "message_type", "sent_time", "message"});
  REQUIRE(pip_envelope.at("message") == "aGVsbG8=");

  REQUIRE(sandbox.mq({"peek", "-n", "2", "--format", "payload"}).out == "hello\nworld\n");
  REQUIRE(sandbox.mq({"peek", "-n", "2", "--format", "payload", "-0"}).out == std::string("hello\0world\0", 12));
  REQUIRE(sandbox.mq({"peek", "-n", "2", "--format", "payload", "-d", ","}).out == "hello,world,");

  auto pretty = sandbox.mq({"peek", "--pretty"});
  require_ok(pretty);
  REQUIRE(lines(pretty.out).size() > 4);
  REQUIRE(pretty.out.find("  \"message\": \"hello\"") != std::string::npos);
  // Key order is the envelope's, not alphabetical.
  REQUIRE(pretty.out.find("message_id") < pretty.out.find("correlation_id"));
}

TEST_CASE("receive writes to a file in batches and removes what it wrote") {
  Sandbox sandbox;
  require_ok(sandbox.sh("seq 3000 | $MQ send -l"));
  auto result = sandbox.sh("$MQ receive -n 2500 > \"$OUT\"", {{"OUT", (sandbox.dir.path() / "out").string()}});
  require_ok(result);
  REQUIRE(result.out.empty());
  auto received = payloads(read_file(sandbox.dir.path() / "out"));
  REQUIRE(received.size() == 2500);
  REQUIRE(received.front() == "1");
  REQUIRE(received.back() == "2500");
  REQUIRE(sandbox.mq({"count"}).out == "500\n");
}
