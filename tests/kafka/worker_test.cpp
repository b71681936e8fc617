// mq listen --exec on Kafka, against the test broker: a success commits the
// message's offset, a failure seeks the partition back to it. Locks that
// outlive the process are not Kafka's: exit 4.

#include <catch2/catch.hpp>
#include <signal.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "../cli/worker_support.hpp"
#include "kafka_fixture.hpp"
#include "process.hpp"

using namespace mqtest;
using namespace workertest;
using nlohmann::json;

namespace {

std::string describe(const Result& result) {
  return "exit " + std::to_string(result.exit_code) + "\nstdout: " + result.out + "\nstderr: " + result.err;
}

std::string trim(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// One topic with one partition (so that order is defined) and a fresh group.
struct Topic {
  std::string name = unique_name("worker");
  KafkaBroker broker{KafkaBrokerOptions{1, {{name, 1}}}};
  std::string uri = broker.uri(name, "group_id=" + unique_name("group"));
};

Result worker(const Sandbox& sandbox, const std::vector<std::string>& args) {
  return sandbox.mq(args, {}, {{"DIR", sandbox.dir.str()}}, 90s);
}

std::uint64_t count(const Sandbox& sandbox, const std::string& uri) {
  auto result = sandbox.mq({"-q", uri, "count"});
  INFO(describe(result));
  REQUIRE(result.exit_code == 0);
  return std::stoull(result.out);
}

}  // namespace

TEST_CASE("worker: a handler that fails twice then succeeds runs three times, then the offset is committed") {
  Topic topic;
  Sandbox sandbox;
  REQUIRE(sandbox.mq({"-q", topic.uri, "send", "job-1"}).exit_code == 0);
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "payload=$(cat)\n"
                        "echo \"$MQ_DELIVERY_COUNT $payload $MQ_PARTITION $MQ_OFFSET\" >> \"$DIR/runs.log\"\n"
                        "[ $(bump run) -ge 3 ]\n");
  auto result = worker(sandbox, {"-q", topic.uri, "listen", "-n", "1", "--exec", handler});
  INFO(describe(result));
  REQUIRE(result.exit_code == 0);
  CHECK(result.err.empty());
  CHECK(lines(read_file(sandbox.dir.path() / "runs.log")) ==
        std::vector<std::string>{"1 job-1 0 0", "2 job-1 0 0", "3 job-1 0 0"});
  CHECK(count(sandbox, topic.uri) == 0);
}

TEST_CASE("worker: a failure seeks back and the messages after it are handled in order, each once") {
  Topic topic;
  Sandbox sandbox;
  REQUIRE(sandbox.mq({"-q", topic.uri, "send", "--lines"}, "1\n2\n3\n4\n5\n").exit_code == 0);
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "p=$(cat)\n"
                        "if [ \"$p\" = 2 ] && [ \"$MQ_DELIVERY_COUNT\" -lt 3 ]; then exit 1; fi\n"
                        "echo \"$p\" >> \"$DIR/done.log\"\n");
  auto result = worker(sandbox, {"-q", topic.uri, "listen", "-n", "5", "--exec", handler});
  INFO(describe(result));
  REQUIRE(result.exit_code == 0);
  CHECK(lines(read_file(sandbox.dir.path() / "done.log")) == std::vector<std::string>{"1", "2", "3", "4", "5"});
  CHECK(count(sandbox, topic.uri) == 0);
}

TEST_CASE("worker: read_partitions is how many messages run at once when --concurrency is not given") {
  Topic topic;
  Sandbox sandbox;
  REQUIRE(sandbox.mq({"-q", topic.uri, "send", "a", "b"}).exit_code == 0);
  // Each run waits until both runs have started: only two at once succeed.
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "p=$(cat); touch \"$DIR/started.$p\"; n=0\n"
                        "while [ ! -e \"$DIR/started.a\" ] || [ ! -e \"$DIR/started.b\" ]; do\n"
                        "  sleep 0.05; n=$((n+1)); [ $n -gt 100 ] && exit 1\n"
                        "done\n"
                        "echo \"$p $MQ_DELIVERY_COUNT\" >> \"$DIR/done.log\"\n");
  auto result = worker(sandbox, {"-q", topic.uri, "--set", "read_partitions=2", "listen", "-n", "2", "--exec", handler});
  INFO(describe(result));
  REQUIRE(result.exit_code == 0);
  auto done = lines(read_file(sandbox.dir.path() / "done.log"));
  std::sort(done.begin(), done.end());
  CHECK(done == std::vector<std::string>{"a 1", "b 1"});
  CHECK(count(sandbox, topic.uri) == 0);
}

TEST_CASE("worker: a handler that always fails ends in the dead-letter topic after N attempts, with the reason") {
  Topic topic;
  Sandbox sandbox;
  REQUIRE(sandbox
              .mq({"-q", topic.uri, "send", "--type", "order.created", "--correlation-id", "c-7", "--message-id", "m-1",
                   "-H", "trace=x", "poison", "good"})
              .exit_code == 0);
  std::string dead_topic = unique_name("dead");
  topic.broker.create_topic(dead_topic, 1);
  std::string dead_uri = topic.broker.uri(dead_topic, "group_id=" + unique_name("dead-group"));
  auto handler =
      script(sandbox.dir.path(), "handler.sh", "p=$(cat); bump \"$p\" > /dev/null; [ \"$p\" = good ] || exit 4\n");
  auto result = worker(sandbox, {"-q", topic.uri, "listen", "-n", "2", "--max-attempts", "3", "--dead-letter", dead_uri,
                                 "--exec", handler});
  INFO(describe(result));
  REQUIRE(result.exit_code == 0);
  CHECK(trim(read_file(sandbox.dir.path() / "count.poison")) == "3");
  CHECK(trim(read_file(sandbox.dir.path() / "count.good")) == "1");
  CHECK(count(sandbox, topic.uri) == 0);

  auto dead = sandbox.mq({"-q", dead_uri, "receive", "-w", "20s"});
  INFO(describe(dead));
  REQUIRE(dead.exit_code == 0);
  auto envelope = json::parse(dead.out);
  CHECK(envelope["message"] == "poison");
  CHECK(envelope["message_id"] == "m-1");
  CHECK(envelope["correlation_id"] == "c-7");
  CHECK(envelope["message_type"] == "order.created");
  CHECK(envelope["headers"]["trace"] == "x");
  CHECK(envelope["headers"]["mq_failure_reason"] == "exit status 4");
  CHECK(envelope["headers"]["mq_attempts"] == "3");
}

TEST_CASE("worker: SIGTERM while CMD runs: exit 0 commits the message, the next stays") {
  Topic topic;
  Sandbox sandbox;
  REQUIRE(sandbox.mq({"-q", topic.uri, "send", "first", "second"}).exit_code == 0);
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "cat > /dev/null; touch \"$DIR/started\"; wait_for \"$DIR/go\"; exit 0\n");
  Env env = sandbox.env;
  env["DIR"] = sandbox.dir.str();
  Process w({mq_binary(), "-q", topic.uri, "listen", "--exec", handler}, env, sandbox.dir.path(), "worker");
  REQUIRE(eventually([&] { return file_exists(sandbox.dir.path() / "started"); }));
  w.signal(SIGTERM);
  write_file(sandbox.dir.path() / "go", "");
  INFO(w.err());
  CHECK(w.wait(30s) == 0);
  CHECK(w.err().empty());
  auto rest = sandbox.mq({"-q", topic.uri, "receive", "-n", "5", "-w", "10s", "--format", "payload"});
  INFO(describe(rest));
  CHECK(rest.out == "second\n");
}

TEST_CASE("worker: SIGTERM while CMD runs: a failure leaves the offset uncommitted, the message is delivered again") {
  Topic topic;
  Sandbox sandbox;
  REQUIRE(sandbox.mq({"-q", topic.uri, "send", "only"}).exit_code == 0);
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "cat > /dev/null; touch \"$DIR/started\"; wait_for \"$DIR/go\"; exit 1\n");
  Env env = sandbox.env;
  env["DIR"] = sandbox.dir.str();
  Process w({mq_binary(), "-q", topic.uri, "listen", "--exec", handler}, env, sandbox.dir.path(), "worker");
  REQUIRE(eventually([&] { return file_exists(sandbox.dir.path() / "started"); }));
  w.signal(SIGTERM);
  write_file(sandbox.dir.path() / "go", "");
  CHECK(w.wait(30s) == 0);
  CHECK(count(sandbox, topic.uri) == 1);
  auto again = sandbox.mq({"-q", topic.uri, "receive", "-w", "10s", "--format", "payload"});
  INFO(describe(again));
  CHECK(again.out == "only\n");
}

TEST_CASE("worker: locks that outlive the process are not Kafka's: exit 4 naming the capability") {
  Topic topic;
  Sandbox sandbox;
  auto check_unsupported = [](const Result& result, const std::string& capability) {
    INFO(describe(result));
    CHECK(result.exit_code == 4);
    CHECK(result.out.empty());
    CHECK(result.err.find(capability) != std::string::npos);
  };
  check_unsupported(sandbox.mq({"-q", topic.uri, "receive", "--lock", "30s", "-w", "0"}), "lock tokens");
  for (const char* command : {"complete", "abandon", "dead-letter"})
    check_unsupported(sandbox.mq({"-q", topic.uri, command, "1-0123456789abcdef"}), "lock tokens");
  check_unsupported(sandbox.mq({"-q", topic.uri, "renew", "1-0123456789abcdef", "--lock", "1m"}), "lock tokens");
  check_unsupported(sandbox.mq({"-q", topic.uri, "listen", "--lock", "1m", "--exec", "true"}), "lock tokens");
  check_unsupported(sandbox.mq({"-q", topic.uri, "listen", "--max-attempts", "3", "--exec", "true"}), "dead letter");
}
