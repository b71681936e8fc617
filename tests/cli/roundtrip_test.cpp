// Envelopes through the binary: bytes, sizes, JSON values, queue to queue.

#include "cli_support.hpp"
#include "mq/envelope_json.hpp"

using namespace mqtest;
using namespace clitest;

TEST_CASE("binary payload with NUL bytes is base64 on receive and restored by send -e") {
  Sandbox sandbox;
  std::string bytes("a\0b\xff\xfe\x01\nz", 8);
  write_file(sandbox.dir.path() / "binary", bytes);
  require_ok(sandbox.mq({"-q", "memory://a", "send", "-f", (sandbox.dir.path() / "binary").string()}));

  auto received = sandbox.mq({"-q", "memory://a", "receive"});
  require_ok(received);
  auto envelope = nlohmann::json::parse(received.out);
  REQUIRE(envelope.at("encoding") == "base64");
  REQUIRE(envelope.at("message") == mq::base64_encode(bytes));

  require_ok(sandbox.mq({"-q", "memory://b", "send", "-e"}, received.out));
  auto restored = sandbox.mq({"-q", "memory://b", "receive", "--format", "payload", "-d", ""}).out;
  REQUIRE(restored.substr(0, bytes.size()) == bytes);
}

TEST_CASE("a 1 MiB payload survives send and receive") {
  Sandbox sandbox;
  std::string big;
  for (int i = 0; big.size() < (1 << 20); ++i) big += std::to_string(i) + ",";
  big.resize(1 << 20);
  write_file(sandbox.dir.path() / "big", big);
  require_ok(sandbox.mq({"send", "-f", (sandbox.dir.path() / "big").string()}));
  auto peeked = sandbox.mq({"peek"});
  REQUIRE(nlohmann::json::parse(peeked.out).at("message") == big);
  auto received = sandbox.mq({"receive", "--format", "payload"});
  require_ok(received);
  REQUIRE(received.out == big + "\n");
  // Through a pipe too, where each line waits for its reader.
  require_ok(sandbox.mq({"send", "-f", (sandbox.dir.path() / "big").string()}));
  auto piped = sandbox.sh("$MQ receive | $MQ -q memory://copy send -e && $MQ -q memory://copy receive --format payload");
  require_ok(piped);
  REQUIRE(piped.out == big + "\n");
}

TEST_CASE("send -e: a message that is not a string is sent as its compact JSON text") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"send", "-e"},
                        "{\"message\":{\"a\": 1, \"b\": [true, null]}}\n{\"message\":[1, 2]}\n{\"message\":42}\n"
                        "{\"message\":\"plain\"}\n"));
  auto received = sandbox.mq({"receive", "-n", "4", "--format", "payload"});
  require_ok(received);
  REQUIRE(received.out == "{\"a\":1,\"b\":[true,null]}\n[1,2]\n42\nplain\n");
}

TEST_CASE("receive -q A | send -q B -e keeps payload bytes and message_id and correlation_id and message_type") {
  Sandbox sandbox;
  std::string input;
  for (int i = 0; i < 50; ++i)
    input += "{\"message_id\":\"id-" + std::to_string(i) + "\",\"correlation_id\":\"corr-" + std::to_string(i) +
             "\",\"message_type\":\"type-" + std::to_string(i % 3) + "\",\"message\":\"payload \\\"" +
             std::to_string(i) + "\\\" \\u00e9\"}\n";
  require_ok(sandbox.mq({"-q", "memory://A", "send", "-e"}, input));
  auto original = json_lines(sandbox.mq({"-q", "memory://A", "peek", "-n", "50"}).out);
  REQUIRE(original.size() == 50);

  auto moved = sandbox.sh("$MQ receive -q memory://A -n 50 | $MQ send -q memory://B -e");
  require_ok(moved);
  REQUIRE(sandbox.mq({"-q", "memory://A", "count"}).out == "0\n");
  auto copied = json_lines(sandbox.mq({"-q", "memory://B", "receive", "-n", "50"}).out);
  REQUIRE(copied.size() == 50);
  for (std::size_t i = 0; i < 50; ++i) {
    INFO(i);
    CHECK(copied[i].at("message") == original[i].at("message"));
    CHECK(copied[i].at("message_id") == original[i].at("message_id"));
    CHECK(copied[i].at("correlation_id") == original[i].at("correlation_id"));
    CHECK(copied[i].at("message_type") == original[i].at("message_type"));
    CHECK(copied[i].at("sent_time") == original[i].at("sent_time"));
  }
}

TEST_CASE("the pip form round-trips through send -e") {
  Sandbox sandbox;
  std::string bytes("\x00\x01 text \xff", 9);
  write_file(sandbox.dir.path() / "p", bytes);
  require_ok(sandbox.mq({"send", "--type", "pip.test", "--correlation-id", "c1", "-f",
                         (sandbox.dir.path() / "p").string()}));
  auto moved = sandbox.sh("$MQ receive --format pip | $MQ -q memory://other send -e");
  require_ok(moved);
  auto copied = nlohmann::json::parse(sandbox.mq({"-q", "memory://other", "receive"}).out);
  CHECK(copied.at("message") == mq::base64_encode(bytes));
  CHECK(copied.at("message_type") == "pip.test");
  CHECK(copied.at("correlation_id") == "c1");
}
