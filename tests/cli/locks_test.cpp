// receive --lock and the token commands (complete, abandon, renew,
// dead-letter) across processes on the memory backend.

#include "cli_support.hpp"

using namespace mqtest;
using namespace clitest;

namespace {

nlohmann::json receive_locked(const Sandbox& sandbox, const std::string& lock, const std::string& wait = "0") {
  auto result = sandbox.mq({"-q", "memory://jobs", "receive", "--lock", lock, "-w", wait});
  require_ok(result);
  auto envelopes = json_lines(result.out);
  REQUIRE(envelopes.size() == 1);
  REQUIRE(envelopes[0].contains("lock_token"));
  return envelopes[0];
}

std::string token_of(const nlohmann::json& envelope) { return envelope["lock_token"].get<std::string>(); }

}  // namespace

TEST_CASE("locks: receive --lock leaves the message locked and complete TOKEN from a later process removes it") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "one", "two"}));
  auto result = sandbox.mq({"-q", "memory://jobs", "receive", "--lock", "1m", "-n", "2"});
  require_ok(result);
  auto envelopes = json_lines(result.out);
  REQUIRE(envelopes.size() == 2);
  for (const auto& envelope : envelopes) {
    CHECK(envelope["delivery_count"] == 1);
    CHECK(!token_of(envelope).empty());
  }
  CHECK(token_of(envelopes[0]) != token_of(envelopes[1]));
  // Locked: not waiting, not receivable, but not gone.
  CHECK(sandbox.mq({"-q", "memory://jobs", "count"}).out == "0\n");
  CHECK(sandbox.mq({"-q", "memory://jobs", "receive", "-w", "0"}).exit_code == 1);

  auto completed = sandbox.mq({"-q", "memory://jobs", "complete", token_of(envelopes[0]), token_of(envelopes[1])});
  require_ok(completed);
  CHECK(completed.out.empty());
  CHECK(completed.err.empty());
  // A finished token is refused.
  require_error_line(sandbox.mq({"-q", "memory://jobs", "complete", token_of(envelopes[0])}), 3, "not held");
}

TEST_CASE(
    "locks: an expired lock makes the message visible again with its delivery count raised and the old token stale") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "job"}));
  auto first = receive_locked(sandbox, "300ms");
  CHECK(first["delivery_count"] == 1);
  auto second = receive_locked(sandbox, "1m", "20s");
  CHECK(second["message_id"] == first["message_id"]);
  CHECK(second["message"] == "job");
  CHECK(second["delivery_count"] == 2);
  CHECK(token_of(second) != token_of(first));
  require_error_line(sandbox.mq({"-q", "memory://jobs", "complete", token_of(first)}), 3, token_of(first));
  require_error_line(sandbox.mq({"-q", "memory://jobs", "renew", token_of(first), "--lock", "1m"}), 3, "not held");
  require_ok(sandbox.mq({"-q", "memory://jobs", "complete", token_of(second)}));
  CHECK(sandbox.mq({"-q", "memory://jobs", "receive", "-w", "0"}).exit_code == 1);
}

TEST_CASE("locks: renew TOKEN --lock extends the lock from another process") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "job"}));
  auto locked = receive_locked(sandbox, "2s");
  require_ok(sandbox.mq({"-q", "memory://jobs", "renew", token_of(locked), "--lock", "1m"}));
  // Past the first lock's end the message is still locked.
  CHECK(sandbox.mq({"-q", "memory://jobs", "receive", "-w", "4s"}).exit_code == 1);
  require_ok(sandbox.mq({"-q", "memory://jobs", "complete", token_of(locked)}));
  CHECK(sandbox.mq({"-q", "memory://jobs", "count"}).out == "0\n");
}

TEST_CASE("locks: a renewed lock can be shortened, and then runs out") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "job"}));
  auto locked = receive_locked(sandbox, "1h");
  require_ok(sandbox.mq({"-q", "memory://jobs", "renew", token_of(locked), "--lock", "200ms"}));
  auto again = receive_locked(sandbox, "1m", "20s");
  CHECK(again["delivery_count"] == 2);
}

TEST_CASE("locks: abandon TOKEN gives the message back at once and dead-letter TOKEN moves it to NAME.dlq") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "job"}));
  auto locked = receive_locked(sandbox, "1h");
  require_ok(sandbox.mq({"-q", "memory://jobs", "abandon", token_of(locked)}));
  CHECK(sandbox.mq({"-q", "memory://jobs", "count"}).out == "1\n");
  auto again = receive_locked(sandbox, "1h");
  CHECK(again["delivery_count"] == 2);
  require_ok(sandbox.mq({"-q", "memory://jobs", "dead-letter", token_of(again)}));
  CHECK(sandbox.mq({"-q", "memory://jobs", "count"}).out == "0\n");
  CHECK(sandbox.mq({"-q", "memory://jobs", "receive", "-w", "0"}).exit_code == 1);
  auto dead = sandbox.mq({"-q", "memory://jobs.dlq", "receive", "-w", "0"});
  require_ok(dead);
  auto envelope = nlohmann::json::parse(dead.out);
  CHECK(envelope["message"] == "job");
  CHECK(envelope["message_id"] == locked["message_id"]);
  require_error_line(sandbox.mq({"-q", "memory://jobs", "abandon", token_of(again)}), 3, "not held");
}

TEST_CASE("locks: one stale token among several: exit 3 naming it, the others are finished") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "a", "b"}));
  auto result = sandbox.mq({"-q", "memory://jobs", "receive", "--lock", "1m", "-n", "2"});
  require_ok(result);
  auto envelopes = json_lines(result.out);
  REQUIRE(envelopes.size() == 2);
  auto stale = token_of(envelopes[0]).substr(0, token_of(envelopes[0]).find('-')) + "-0000000000000000";
  require_error_line(
      sandbox.mq({"-q", "memory://jobs", "complete", token_of(envelopes[0]), stale, token_of(envelopes[1])}), 3, stale);
  // Completed, not merely locked: they cannot be given back.
  for (const auto& envelope : envelopes)
    require_error_line(sandbox.mq({"-q", "memory://jobs", "abandon", token_of(envelope)}), 3, "not held");
  CHECK(sandbox.mq({"-q", "memory://jobs", "count"}).out == "0\n");
  require_error_line(sandbox.mq({"-q", "memory://jobs", "complete", "not-a-token"}), 3, "not-a-token");
}

TEST_CASE("locks: token commands need tokens, renew needs --lock") {
  Sandbox sandbox;
  for (const char* command : {"complete", "abandon", "dead-letter"})
    require_error_line(sandbox.mq({"-q", "memory://jobs", command}), 2, "TOKEN");
  require_error_line(sandbox.mq({"-q", "memory://jobs", "renew", "1-00"}), 2, "--lock");
  require_error_line(sandbox.mq({"-q", "memory://jobs", "renew", "1-00", "--lock", "later"}), 2);
}

TEST_CASE("locks: info lists every capability of the memory backend as supported") {
  Sandbox sandbox;
  auto result = sandbox.mq({"-q", "memory://jobs", "info", "--json"});
  require_ok(result);
  auto capabilities = nlohmann::json::parse(result.out)["capabilities"];
  REQUIRE(capabilities.is_object());
  for (const char* name : {"abandon", "renew lock", "dead letter", "lock tokens", "listen"})
    CHECK(capabilities[name] == true);
}
