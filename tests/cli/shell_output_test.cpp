// Reading mq's output in a terminal and in scripts: --version, --format
// templates, --pretty colours (only on a terminal, never with NO_COLOR),
// --verbose narration without secrets, help that teaches, suggestions, and
// mq config.

#include <regex>

#include "mosquitto_fixture.hpp"
#include "shell_support.hpp"

using namespace mqtest;
using namespace clitest;
using namespace shelltest;

namespace {

const std::string escape = "\x1b[";

}  // namespace

TEST_CASE("shell: mq --version names the librdkafka and Paho versions it runs with") {
  Sandbox sandbox;
  auto version = sandbox.mq({"--version"});
  REQUIRE(version.exit_code == 0);
  INFO(version.out);
  CHECK(std::regex_match(version.out, std::regex(std::string("mq ") + MQ_VERSION +
                                                 R"( \(librdkafka [0-9]+\.[0-9]+\.[0-9]+[^,]*, Paho MQTT C [0-9]+\.[0-9]+\.[0-9]+\)\n)")));
}

TEST_CASE("shell: --format takes a template of envelope fields") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "--type", "order", "--correlation-id", "c-1", "--key", "k1", "-H", "trace=x", "-H",
                         "tenant=acme", "first"}));
  require_ok(sandbox.mq({"send", "second"}));

  auto peeked = sandbox.mq({"peek", "-n", "2", "--format",
                            "{message_type}|{correlation_id}|{key}|{header.trace}|{header.none}|{queue}|{message}"});
  require_ok(peeked);
  CHECK(peeked.out == "order|c-1|k1|x||default|first\n"
                      "|||||default|second\n");

  // Escapes, literal braces, the headers as JSON, times as ISO 8601.
  auto fancy = sandbox.mq({"peek", "--format", R"({{{message}}}\t{headers}\t{sent_time})"});
  require_ok(fancy);
  CHECK(std::regex_match(fancy.out, std::regex(R"(\{first\}\t\{"trace":"x","tenant":"acme"\}\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n)")));

  // A template that ends its own line gets no second newline (kcat style);
  // -0 and -d say what follows each message.
  CHECK(sandbox.mq({"peek", "-n", "2", "--format", R"({message}\n)"}).out == "first\nsecond\n");
  CHECK(sandbox.mq({"peek", "-n", "2", "--format", "<{message}>", "-0"}).out == std::string("<first>\0<second>\0", 17));
  CHECK(sandbox.mq({"peek", "-n", "2", "--format", "{message}", "-d", ","}).out == "first,second,");

  // receive with a template removes what it printed.
  auto received = sandbox.mq({"receive", "-n", "2", "--format", "{message} {delivery_count}"});
  require_ok(received);
  CHECK(received.out == "first 1\nsecond 1\n");
  CHECK(sandbox.mq({"count"}).out == "0\n");

  // Mistakes are usage errors that name the nearest field.
  require_error_line(sandbox.mq({"peek", "--format", "{mesage}"}), 2, "did you mean {message}?");
  require_error_line(sandbox.mq({"peek", "--format", "{topic"}), 2, "never closed");
  require_error_line(sandbox.mq({"peek", "--format", "yaml"}), 2, "yaml");
}

TEST_CASE("shell: --pretty colours keys, strings and numbers only on a terminal and never with NO_COLOR") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "--type", "t", "hello"}));

  // Not a terminal: indented, no escape sequences.
  auto piped = sandbox.mq({"peek", "--pretty"});
  require_ok(piped);
  CHECK(piped.out.rfind("{\n  \"message_id\": \"", 0) == 0);
  CHECK(contains(piped.out, "\n  \"message\": \"hello\",\n"));
  CHECK(!contains(piped.out, escape));

  // A terminal: coloured.
  auto coloured = in_terminal(sandbox, "$MQ peek --pretty");
  INFO(coloured.out);
  REQUIRE(coloured.exit_code == 0);
  CHECK(contains(coloured.out, escape + "1;34m\"message_id\"" + escape + "0m: "));   // a key
  CHECK(contains(coloured.out, escape + "32m\"hello\"" + escape + "0m"));            // a string
  CHECK(contains(coloured.out, escape + "36m0" + escape + "0m"));                    // a number (delivery_count)

  // Without --pretty no colour, even on a terminal; NO_COLOR, set to anything, none either.
  CHECK(!contains(in_terminal(sandbox, "$MQ peek").out, escape));
  CHECK(!contains(in_terminal(sandbox, "$MQ peek --pretty", {{"NO_COLOR", "1"}}).out, escape));
  CHECK(!contains(in_terminal(sandbox, "$MQ peek --pretty", {{"NO_COLOR", ""}}).out, escape));
  // A terminal on stderr only is no reason to colour stdout.
  auto redirected = in_terminal(sandbox, "$MQ peek --pretty > out.json; cat out.json");
  CHECK(contains(redirected.out, "\"message\": \"hello\""));
  CHECK(!contains(redirected.out, escape));
}

TEST_CASE("shell: --verbose narrates steps and timings on stderr and never prints a secret") {
  Sandbox sandbox;
  auto sent = sandbox.mq({"-v", "send", "--set", "credential.password=hunter2-secret", "one", "two"},
                         {}, {{"MQ_PASSWORD", "env-secret-77"}});
  require_ok(sent);
  CHECK(sent.out.empty());
  INFO(sent.err);
  for (const auto& line : lines(sent.err))
    if (!line.empty()) CHECK(std::regex_match(line, std::regex(R"(mq: \[\+\d+\.\d{3}s\] .+)")));
  CHECK(contains(sent.err, "memory: store directory"));
  CHECK(std::regex_search(sent.err, std::regex(R"(opened the memory queue in [0-9.]+ m?s)")));
  CHECK(contains(sent.err, "sent 2 messages, every one acknowledged, in "));
  CHECK(contains(sent.err, "send finished in "));
  CHECK(!contains(sent.err, "hunter2-secret"));
  CHECK(!contains(sent.err, "env-secret-77"));

  // Without -v, nothing.
  auto quiet = sandbox.mq({"receive", "-n", "2"});
  require_ok(quiet);
  CHECK(quiet.err.empty());
}

TEST_CASE("shell: --verbose narrates an MQTT connection: broker, client, protocol, timings, no password") {
  Mosquitto broker;
  Sandbox sandbox;
  auto uri = broker.uri("verbose/topic");
  auto sent = sandbox.mq({"-v", "-q", uri, "--username", "narrator", "--qos", "1", "send", "hi"}, {},
                         {{"MQ_PASSWORD", "mqtt-secret-42"}});
  INFO(sent.err);
  require_ok(sent);
  CHECK(contains(sent.err, "mqtt: connecting to tcp://127.0.0.1:" + std::to_string(broker.port())));
  CHECK(contains(sent.err, "user narrator"));
  CHECK(contains(sent.err, "MQTT 3.1.1"));
  CHECK(std::regex_search(sent.err, std::regex(R"(mqtt: connected in [0-9.]+ m?s)")));
  CHECK(contains(sent.err, "credential.password = *****"));
  CHECK(!contains(sent.err, "mqtt-secret-42"));
}

TEST_CASE("shell: an unknown command or option suggests the nearest one") {
  Sandbox sandbox;
  require_error_line(sandbox.mq({"recieve"}), 2, "unknown command \"recieve\"; did you mean \"receive\"?");
  require_error_line(sandbox.mq({"sned", "x"}), 2, "did you mean \"send\"?");
  require_error_line(sandbox.mq({"receive", "--formt", "json"}), 2, "unknown option \"--formt\"; did you mean \"--format\"?");
  require_error_line(sandbox.mq({"send", "--line"}), 2, "did you mean \"--lines\"?");
  require_error_line(sandbox.mq({"--queu", "x", "count"}), 2, "did you mean \"--queue\"?");
  require_error_line(sandbox.mq({"config", "pth"}), 2, "did you mean \"path\"?");
  // A command's own option before the command name is misplaced, not unknown.
  auto misplaced = sandbox.mq({"--retain", "send", "x"});
  require_error_line(misplaced, 2, "option \"--retain\" of mq send goes after the command name");
  CHECK(!contains(misplaced.err, "did you mean"));
  // Nothing near: no guess.
  auto far = sandbox.mq({"frobnicate"});
  require_error_line(far, 2, "unknown command \"frobnicate\"");
  CHECK(!contains(far.err, "did you mean"));
}

TEST_CASE("shell: every --help ends with two or three real examples") {
  Sandbox sandbox;
  std::vector<std::vector<std::string>> helps = {{"--help"}, {"config", "path", "--help"}};
  for (const auto& command : command_names()) helps.push_back({command, "--help"});
  for (const auto& args : helps) {
    auto help = sandbox.mq(args);
    INFO("mq " << args.front() << " --help:\n" << help.out);
    REQUIRE(help.exit_code == 0);
    auto all = lines(help.out);
    while (!all.empty() && all.back().empty()) all.pop_back();
    auto heading = std::find(all.rbegin(), all.rend(), "Examples:");
    CHECK(heading != all.rend());
    if (heading == all.rend()) continue;
    auto examples = static_cast<std::size_t>(heading - all.rbegin());
    CHECK(examples >= 2);
    CHECK(examples <= 3);
    for (auto line = all.end() - static_cast<long>(examples); line != all.end(); ++line) {
      CHECK(line->rfind("  ", 0) == 0);
      CHECK(contains(*line, "mq "));
    }
  }
}

TEST_CASE("shell: mq config lists the named queues with secrets masked, and mq config path the file") {
  Sandbox sandbox;
  auto file = sandbox.dir.path() / "queues.json";
  write_file(file, R"({"default": "jobs", "queues": {
    "jobs": {"uri": "memory://jobs"},
    "orders": {"uri": "kafka://localhost/orders", "credential": {"username": "u", "password": "sup3r-secret"}}}})");
  Env env{{"MQ_CONFIG", file.string()}};
  auto listed = sandbox.mq({"config"}, {}, env);
  require_ok(listed);
  CHECK(contains(listed.out, "jobs (default)\n"));
  CHECK(contains(listed.out, "orders\n"));
  CHECK(contains(listed.out, "credential.password = *****"));
  CHECK(!contains(listed.out + listed.err, "sup3r-secret"));
  CHECK(sandbox.mq({"config", "--names"}, {}, env).out == "jobs\norders\n");
  CHECK(sandbox.mq({"config", "path"}, {}, env).out == file.string() + "\n");
  // --config wins over MQ_CONFIG.
  auto other = sandbox.dir.path() / "other.json";
  write_file(other, R"({"queues": {"x": "memory://x"}})");
  CHECK(sandbox.mq({"--config", other.string(), "config", "path"}, {}, env).out == other.string() + "\n");
  CHECK(sandbox.mq({"config", "--names", "--config", other.string()}, {}, env).out == "x\n");
  // No file: --names prints nothing and says nothing.
  auto none = sandbox.mq({"config", "--names"});
  CHECK(none.exit_code == 0);
  CHECK(none.out.empty());
  CHECK(none.err.empty());
}
