// mq listen --exec on MQTT, against a real mosquitto: the worker acknowledges
// a message when its command succeeds and holds the acknowledgement back when
// it fails. Locks that outlive the process are not MQTT's: exit 4.

#include <signal.h>

#include <nlohmann/json.hpp>

#include "../cli/worker_support.hpp"
#include "mqtt_helpers.hpp"

using namespace mqtest;
using namespace workertest;
using nlohmann::json;

namespace {

std::string trim(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// A persistent session at QoS 1: what the worker took but did not
// acknowledge goes to the session's next connection.
struct Session {
  const Mosquitto& broker;
  const Sandbox& sandbox;
  std::string uri;
  std::string client_id = "worker-" + mq::generate_message_id().substr(0, 8);

  Session(const Mosquitto& b, const Sandbox& s, const std::string& topic) : broker(b), sandbox(s), uri(b.uri(topic)) {
    // The first connection creates the session; nothing is there yet.
    REQUIRE(mq({"receive", "-w", "0"}).exit_code == 1);
  }
  std::vector<std::string> args(std::vector<std::string> rest) const {
    std::vector<std::string> all{"-q", uri, "--qos", "1", "--client-id", client_id};
    all.insert(all.end(), rest.begin(), rest.end());
    return all;
  }
  Result mq(const std::vector<std::string>& rest) const {
    return sandbox.mq(args(rest), {}, {{"DIR", sandbox.dir.str()}});
  }
  void send(const std::vector<std::string>& payloads) const {
    std::vector<std::string> command{"send", "-q", uri, "--qos", "1"};
    command.insert(command.end(), payloads.begin(), payloads.end());
    REQUIRE(sandbox.mq(command).exit_code == 0);
  }
};

std::vector<std::string> messages_of(const std::string& out) {
  std::vector<std::string> messages;
  for (const auto& line : lines(out)) messages.push_back(json::parse(line)["message"].get<std::string>());
  return messages;
}

}  // namespace

TEST_CASE("worker: a handler that fails twice then succeeds runs three times, then the message is gone") {
  Mosquitto broker;
  Sandbox sandbox;
  Session session(broker, sandbox, unique_topic("retry"));
  session.send({"job-1"});
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "payload=$(cat)\n"
                        "echo \"$MQ_DELIVERY_COUNT $payload $MQ_TOPIC\" >> \"$DIR/runs.log\"\n"
                        "[ $(bump run) -ge 3 ]\n");
  auto result = session.mq({"listen", "-n", "1", "--exec", handler});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.err.empty());
  auto runs = lines(read_file(sandbox.dir.path() / "runs.log"));
  REQUIRE(runs.size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(runs[i].rfind(std::to_string(i + 1) + " job-1 retry/", 0) == 0);
  // Acknowledged: the session holds nothing more.
  CHECK(session.mq({"receive", "-w", "1s"}).exit_code == 1);
}

TEST_CASE("worker: a handler that always fails ends in the dead-letter queue after N attempts, with the reason") {
  Mosquitto broker;
  Sandbox sandbox;
  Session session(broker, sandbox, unique_topic("doomed"));
  session.send({"bad"});
  auto handler = script(sandbox.dir.path(), "handler.sh", "bump run > /dev/null; exit 3\n");
  auto result =
      session.mq({"listen", "-n", "1", "--max-attempts", "3", "--dead-letter", "memory://failed", "--exec", handler});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(trim(read_file(sandbox.dir.path() / "count.run")) == "3");
  CHECK(result.err.find("exit status 3") != std::string::npos);
  auto dead = sandbox.mq({"-q", "memory://failed", "receive", "-w", "0"});
  REQUIRE(dead.exit_code == 0);
  auto envelope = json::parse(dead.out);
  CHECK(envelope["message"] == "bad");
  CHECK(envelope["headers"]["mq_failure_reason"] == "exit status 3");
  CHECK(envelope["headers"]["mq_attempts"] == "3");
  CHECK(envelope["headers"]["mq_source_queue"] == session.uri);
  CHECK(session.mq({"receive", "-w", "1s"}).exit_code == 1);
}

TEST_CASE("worker: the dead-letter queue may be an MQTT topic and MQTT 5 carries the reason as a user property") {
  Mosquitto broker;
  Sandbox sandbox;
  Session session(broker, sandbox, unique_topic("source"));
  auto dead_topic = unique_topic("dead");
  auto dead_uri = broker.uri(dead_topic) + "?qos=1&protocol_version=5";
  auto dead_client = "dead-" + mq::generate_message_id().substr(0, 8);
  REQUIRE(sandbox.mq({"-q", dead_uri, "--client-id", dead_client, "receive", "-w", "0"}).exit_code == 1);
  session.send({"poison"});
  auto result = session.mq({"listen", "-n", "1", "--max-attempts", "2", "--dead-letter", dead_uri, "--exec", "false"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  auto dead = sandbox.mq({"-q", dead_uri, "--client-id", dead_client, "receive", "-w", "5s"});
  INFO(dead.err);
  REQUIRE(dead.exit_code == 0);
  auto envelope = json::parse(dead.out);
  CHECK(envelope["message"] == "poison");
  CHECK(envelope["headers"]["mq_failure_reason"] == "exit status 1");
  CHECK(envelope["headers"]["mq_attempts"] == "2");
}

TEST_CASE("worker: SIGTERM while CMD runs: exit 0 acknowledges the message") {
  Mosquitto broker;
  Sandbox sandbox;
  Session session(broker, sandbox, unique_topic("stop-ok"));
  session.send({"first", "second"});
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "cat > /dev/null; touch \"$DIR/started\"; wait_for \"$DIR/go\"; exit 0\n");
  Env env = sandbox.env;
  env["DIR"] = sandbox.dir.str();
  auto argv = session.args({"listen", "--exec", handler});
  argv.insert(argv.begin(), mq_binary());
  Process worker(argv, env, sandbox.dir.path(), "worker");
  REQUIRE(eventually([&] { return file_exists(sandbox.dir.path() / "started"); }));
  worker.signal(SIGTERM);
  write_file(sandbox.dir.path() / "go", "");
  INFO(worker.err());
  CHECK(worker.wait() == 0);
  CHECK(worker.err().empty());
  // The first was acknowledged; the second, never handed to CMD, comes to the session again.
  auto rest = session.mq({"receive", "-n", "5", "-w", "3s"});
  REQUIRE(rest.exit_code == 0);
  CHECK(messages_of(rest.out) == std::vector<std::string>{"second"});
}

TEST_CASE("worker: SIGTERM while CMD runs: a failure leaves the message unacknowledged, delivered again") {
  Mosquitto broker;
  Sandbox sandbox;
  Session session(broker, sandbox, unique_topic("stop-fail"));
  session.send({"only"});
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "cat > /dev/null; touch \"$DIR/started\"; wait_for \"$DIR/go\"; exit 1\n");
  Env env = sandbox.env;
  env["DIR"] = sandbox.dir.str();
  auto argv = session.args({"listen", "--exec", handler});
  argv.insert(argv.begin(), mq_binary());
  Process worker(argv, env, sandbox.dir.path(), "worker");
  REQUIRE(eventually([&] { return file_exists(sandbox.dir.path() / "started"); }));
  worker.signal(SIGTERM);
  write_file(sandbox.dir.path() / "go", "");
  CHECK(worker.wait() == 0);
  auto again = session.mq({"receive", "-w", "5s"});
  REQUIRE(again.exit_code == 0);
  CHECK(messages_of(again.out) == std::vector<std::string>{"only"});
}

TEST_CASE("worker: --concurrency runs several commands, acknowledgements go in order") {
  Mosquitto broker;
  Sandbox sandbox;
  Session session(broker, sandbox, unique_topic("many"));
  session.send({"1", "2", "3", "4", "5", "6"});
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "p=$(cat)\n"
                        "if [ \"$p\" = 2 ] && [ \"$MQ_DELIVERY_COUNT\" = 1 ]; then exit 1; fi\n"
                        "echo \"$p\" >> \"$DIR/done.log\"\n");
  auto result = session.mq({"listen", "-n", "6", "--concurrency", "3", "--exec", handler});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  auto done = lines(read_file(sandbox.dir.path() / "done.log"));
  std::sort(done.begin(), done.end());
  CHECK(done == std::vector<std::string>{"1", "2", "3", "4", "5", "6"});
  CHECK(session.mq({"receive", "-w", "1s"}).exit_code == 1);
}

TEST_CASE("worker: locks that outlive the process are not MQTT's: exit 4 naming the capability") {
  Mosquitto broker;
  Sandbox sandbox;
  auto uri = broker.uri(unique_topic("locks"));
  auto check_unsupported = [](const Result& result, const std::string& capability) {
    INFO(result.err);
    CHECK(result.exit_code == 4);
    CHECK(result.out.empty());
    CHECK(result.err.find(capability) != std::string::npos);
  };
  check_unsupported(sandbox.mq({"-q", uri, "receive", "--lock", "30s", "-w", "0"}), "lock tokens");
  for (const char* command : {"complete", "abandon", "dead-letter"})
    check_unsupported(sandbox.mq({"-q", uri, command, "1-0123456789abcdef"}), "lock tokens");
  check_unsupported(sandbox.mq({"-q", uri, "renew", "1-0123456789abcdef", "--lock", "1m"}), "lock tokens");
  check_unsupported(sandbox.mq({"-q", uri, "listen", "--lock", "1m", "--exec", "true"}), "lock tokens");
  check_unsupported(sandbox.mq({"-q", uri, "listen", "--max-attempts", "3", "--exec", "true"}), "dead letter");

  auto info = sandbox.mq({"-q", uri, "info", "--json"});
  REQUIRE(info.exit_code == 0);
  auto capabilities = json::parse(info.out)["capabilities"];
  CHECK(capabilities["lock tokens"] == false);
  CHECK(capabilities["renew lock"] == false);
  CHECK(capabilities["dead letter"] == false);
  CHECK(capabilities["abandon"] == true);
}
