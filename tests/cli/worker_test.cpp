// mq listen --exec on the memory backend: retries, dead letters, several
// workers on one queue, stopping, and locks that outlive a worker.

#include <signal.h>

#include <map>
#include <set>

#include "cli_support.hpp"
#include "worker_support.hpp"

using namespace mqtest;
using namespace clitest;
using namespace workertest;

namespace {

Env with_dir(const Sandbox& sandbox) {
  Env env = sandbox.env;
  env["DIR"] = sandbox.dir.str();
  return env;
}

Result worker(const Sandbox& sandbox, const std::vector<std::string>& args) {
  return sandbox.mq(args, {}, {{"DIR", sandbox.dir.str()}});
}

std::string count(const Sandbox& sandbox, const std::string& queue) {
  return trim(sandbox.mq({"-q", queue, "count"}).out);
}

}  // namespace

TEST_CASE("worker: a handler that fails twice then succeeds runs three times, then the message is gone") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "job-1"}));
  // Each run logs the delivery count it was given and the payload it read.
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "payload=$(cat)\n"
                        "echo \"$MQ_DELIVERY_COUNT $payload\" >> \"$DIR/runs.log\"\n"
                        "[ $(bump run) -ge 3 ]\n");
  auto result = worker(sandbox, {"-q", "memory://jobs", "listen", "-n", "1", "--exec", handler});
  require_ok(result);
  CHECK(result.out.empty());
  CHECK(result.err.empty());
  CHECK(lines(read_file(sandbox.dir.path() / "runs.log")) == std::vector<std::string>{"1 job-1", "2 job-1", "3 job-1"});
  CHECK(count(sandbox, "memory://jobs") == "0");
  CHECK(sandbox.mq({"-q", "memory://jobs", "receive", "-w", "0"}).exit_code == 1);
}

TEST_CASE("worker: a handler that always fails sends the message to --dead-letter after N attempts, with the reason") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "--type", "order.created", "--correlation-id", "c-7",
                         "--message-id", "m-1", "-H", "trace=x", "{\"id\":7}"}));
  auto handler = script(sandbox.dir.path(), "handler.sh", "cat > /dev/null; bump run > /dev/null; exit 7\n");
  auto result = worker(sandbox, {"-q", "memory://jobs", "listen", "-n", "1", "--max-attempts", "3", "--dead-letter",
                                 "memory://failed", "--exec", handler});
  require_ok(result);
  CHECK(trim(read_file(sandbox.dir.path() / "count.run")) == "3");
  // One warning line says where the message went and why.
  REQUIRE(lines(result.err).size() == 1);
  CHECK(result.err.find("m-1") != std::string::npos);
  CHECK(result.err.find("memory://failed") != std::string::npos);
  CHECK(result.err.find("exit status 7") != std::string::npos);

  CHECK(count(sandbox, "memory://jobs") == "0");
  auto dead = sandbox.mq({"-q", "memory://failed", "receive", "-w", "0"});
  require_ok(dead);
  auto envelope = nlohmann::json::parse(dead.out);
  CHECK(envelope["message_id"] == "m-1");
  CHECK(envelope["correlation_id"] == "c-7");
  CHECK(envelope["message_type"] == "order.created");
  CHECK(envelope["message"] == "{\"id\":7}");
  CHECK(envelope["headers"]["trace"] == "x");
  CHECK(envelope["headers"]["mq_failure_reason"] == "exit status 7");
  CHECK(envelope["headers"]["mq_attempts"] == "3");
  CHECK(envelope["headers"]["mq_source_queue"] == "memory://jobs");
}

TEST_CASE(
    "worker: without --dead-letter, --max-attempts uses the backend's dead-letter queue, and a signal is a reason") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "doomed"}));
  auto handler = script(sandbox.dir.path(), "handler.sh", "bump run > /dev/null; kill -9 $$\n");
  auto result = worker(sandbox, {"-q", "memory://jobs", "listen", "-n", "1", "--max-attempts", "2", "--exec", handler});
  require_ok(result);
  CHECK(trim(read_file(sandbox.dir.path() / "count.run")) == "2");
  CHECK(result.err.find("killed by signal 9 (SIGKILL)") != std::string::npos);
  CHECK(count(sandbox, "memory://jobs") == "0");
  auto dead = sandbox.mq({"-q", "memory://jobs.dlq", "receive", "-w", "0", "--format", "payload"});
  require_ok(dead);
  CHECK(dead.out == "doomed\n");
}

TEST_CASE("worker: the envelope is in the environment, the payload byte for byte on stdin") {
  Sandbox sandbox;
  std::string payload("bin\0ary \xff\n", 10);
  write_file(sandbox.dir.path() / "payload.in", payload);
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "--type", "t.1", "--correlation-id", "c-1", "--message-id",
                         "m-1", "-H", "a=1", "-f", (sandbox.dir.path() / "payload.in").string()}));
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "cat > \"$DIR/payload.out\"\n"
                        "env | grep '^MQ_' | sort > \"$DIR/env.out\"\n");
  // Inherited values of the envelope's names are replaced, or removed when absent.
  auto result = sandbox.mq({"-q", "memory://jobs", "listen", "-n", "1", "--exec", handler}, {},
                           {{"DIR", sandbox.dir.str()}, {"MQ_KEY", "stale"}, {"MQ_OTHER", "kept"}});
  require_ok(result);
  CHECK(read_file(sandbox.dir.path() / "payload.out") == payload);
  auto env = lines(read_file(sandbox.dir.path() / "env.out"));
  std::set<std::string> seen(env.begin(), env.end());
  CHECK(seen.count("MQ_MESSAGE_ID=m-1"));
  CHECK(seen.count("MQ_CORRELATION_ID=c-1"));
  CHECK(seen.count("MQ_MESSAGE_TYPE=t.1"));
  CHECK(seen.count("MQ_TOPIC=jobs"));
  CHECK(seen.count("MQ_DELIVERY_COUNT=1"));
  CHECK(seen.count("MQ_HEADERS={\"a\":\"1\"}"));
  CHECK(seen.count("MQ_OTHER=kept"));
  for (const auto& line : env) CHECK(line.rfind("MQ_KEY=", 0) != 0);
  CHECK(std::any_of(env.begin(), env.end(), [](const std::string& l) { return l.rfind("MQ_SENT_TIME=20", 0) == 0; }));
}

TEST_CASE("worker: CMD's arguments may look like options, and its output is the worker's output") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "one", "two"}));
  auto result = sandbox.mq({"-q", "memory://jobs", "listen", "-n", "2", "--exec", "sh", "-c",
                            "printf '%s:%s\\n' \"$1\" \"$(cat)\"", "sh", "-n"});
  require_ok(result);
  CHECK(lines(result.out) == std::vector<std::string>{"-n:one", "-n:two"});
  CHECK(result.err.empty());
}

TEST_CASE("worker: a CMD that does not read a large payload, or exits early, holds nothing up") {
  Sandbox sandbox;
  std::string big(1 << 20, 'x');
  write_file(sandbox.dir.path() / "big", big);
  for (int i = 0; i < 3; ++i)
    require_ok(sandbox.mq({"-q", "memory://jobs", "send", "-f", (sandbox.dir.path() / "big").string()}));
  auto result = worker(sandbox, {"-q", "memory://jobs", "listen", "-n", "3", "--exec", "true"});
  require_ok(result);
  CHECK(count(sandbox, "memory://jobs") == "0");
  // One that reads all of it gets all of it.
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "-f", (sandbox.dir.path() / "big").string()}));
  auto handler = script(sandbox.dir.path(), "handler.sh", "wc -c > \"$DIR/size\"\n");
  require_ok(worker(sandbox, {"-q", "memory://jobs", "listen", "-n", "1", "--exec", handler}));
  CHECK(trim(read_file(sandbox.dir.path() / "size")) == std::to_string(big.size()));
}

TEST_CASE("worker: when the reader of the output goes away (| head -1) the worker stops and nothing is lost") {
  Sandbox sandbox;
  require_ok(sandbox.sh("seq 20 | $MQ -q memory://jobs send -l"));
  // A handler that cannot write its output dies of SIGPIPE before it logs.
  auto handler = script(sandbox.dir.path(), "handler.sh", "p=$(cat); echo \"$p\"; echo \"$p\" >> \"$DIR/done.log\"\n");
  auto result = sandbox.sh("$MQ -q memory://jobs listen --exec \"$HANDLER\" | head -1",
                           {{"DIR", sandbox.dir.str()}, {"HANDLER", handler}}, 60s);
  require_ok(result);
  CHECK(result.out == "1\n");
  auto done = lines(read_file(sandbox.dir.path() / "done.log"));
  std::set<std::string> handled(done.begin(), done.end());
  CHECK(handled.size() == done.size());
  CHECK(handled.count("1"));
  auto rest = sandbox.mq({"-q", "memory://jobs", "receive", "-n", "100", "-w", "0", "--format", "payload"});
  auto left = lines(rest.out);
  CHECK(handled.size() + left.size() == 20);
  for (const auto& payload : left) CHECK(!handled.count(payload));
}

TEST_CASE("worker: three workers on one queue handle each message successfully exactly once") {
  Sandbox sandbox;
  constexpr int messages = 60;
  std::string input;
  for (int i = 1; i <= messages; ++i) input += std::to_string(i) + "\n";
  require_ok(sandbox.mq({"-q", "memory://shared", "send", "-l"}, input));
  // Every fifth message fails on its first delivery, so retries go round too.
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "p=$(cat)\n"
                        "if [ $((p % 5)) -eq 0 ] && [ \"$MQ_DELIVERY_COUNT\" = 1 ]; then exit 1; fi\n"
                        "echo \"$p\" >> \"$DIR/done.log\"\n");
  auto env = with_dir(sandbox);
  std::vector<std::unique_ptr<Process>> workers;
  for (int i = 0; i < 3; ++i)
    workers.push_back(std::make_unique<Process>(std::vector<std::string>{mq_binary(), "-q", "memory://shared", "listen",
                                                                         "--concurrency", "2", "--exec", handler},
                                                env, sandbox.dir.path(), "worker" + std::to_string(i)));
  REQUIRE(eventually([&] { return lines(read_or_empty(sandbox.dir.path() / "done.log")).size() >= messages; }));
  for (auto& w : workers) w->signal(SIGTERM);
  for (auto& w : workers) {
    INFO(w->err());
    CHECK(w->wait() == 0);
    CHECK(w->err().empty());
  }
  std::map<std::string, int> handled;
  for (const auto& line : lines(read_file(sandbox.dir.path() / "done.log"))) ++handled[line];
  CHECK(handled.size() == messages);
  for (const auto& [payload, times] : handled) {
    INFO(payload);
    CHECK(times == 1);
  }
  CHECK(sandbox.mq({"-q", "memory://shared", "receive", "-w", "0"}).exit_code == 1);
}

TEST_CASE("worker: --concurrency K runs K commands at once") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "a", "b", "c"}));
  // Each handler waits until all three run; one at a time they would give up.
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "touch \"$DIR/running.$MQ_MESSAGE_ID\"\n"
                        "n=0; while [ $(ls \"$DIR\" | grep -c '^running\\.') -lt 3 ]; do\n"
                        "  sleep 0.05; n=$((n+1)); [ $n -gt 600 ] && exit 1\n"
                        "done\n");
  auto result = worker(sandbox, {"-q", "memory://jobs", "listen", "-n", "3", "--concurrency", "3", "--exec", handler});
  require_ok(result);
  CHECK(result.err.empty());
  CHECK(count(sandbox, "memory://jobs") == "0");
}

TEST_CASE("worker: SIGTERM while CMD runs: the command finishes, exit 0 completes its message") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "first", "second"}));
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "cat > /dev/null; touch \"$DIR/started\"; wait_for \"$DIR/go\"; exit 0\n");
  Process w({mq_binary(), "-q", "memory://jobs", "listen", "--exec", handler}, with_dir(sandbox), sandbox.dir.path(),
            "worker");
  REQUIRE(eventually([&] { return file_exists(sandbox.dir.path() / "started"); }));
  w.signal(SIGTERM);
  // The worker waits for its command, taking nothing more.
  std::this_thread::sleep_for(300ms);
  CHECK(w.running());
  write_file(sandbox.dir.path() / "go", "");
  CHECK(w.wait() == 0);
  CHECK(w.err().empty());
  auto rest = sandbox.mq({"-q", "memory://jobs", "receive", "-n", "5", "-w", "0"});
  require_ok(rest);
  auto left = json_lines(rest.out);
  REQUIRE(left.size() == 1);
  CHECK(left[0]["message"] == "second");
  CHECK(left[0]["delivery_count"] == 1);
}

TEST_CASE("worker: SIGTERM while CMD runs: a failing command gives its message back for another delivery") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "only"}));
  auto handler = script(sandbox.dir.path(), "handler.sh",
                        "cat > /dev/null; touch \"$DIR/started\"; wait_for \"$DIR/go\"; exit 1\n");
  // Even at its last attempt: a failure while stopping may be the stop's doing.
  Process w({mq_binary(), "-q", "memory://jobs", "listen", "--max-attempts", "1", "--exec", handler}, with_dir(sandbox),
            sandbox.dir.path(), "worker");
  REQUIRE(eventually([&] { return file_exists(sandbox.dir.path() / "started"); }));
  w.signal(SIGTERM);
  write_file(sandbox.dir.path() / "go", "");
  CHECK(w.wait() == 0);
  auto again = sandbox.mq({"-q", "memory://jobs", "receive", "-w", "0"});
  require_ok(again);
  auto envelope = nlohmann::json::parse(again.out);
  CHECK(envelope["message"] == "only");
  CHECK(envelope["delivery_count"] == 2);
  CHECK(sandbox.mq({"-q", "memory://jobs.dlq", "count"}).out == "0\n");
}

TEST_CASE("worker: a second signal kills the running command and gives its message back") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "stuck"}));
  auto handler = script(sandbox.dir.path(), "handler.sh", "echo $$ > \"$DIR/pid\"; wait_for \"$DIR/never\"\n");
  Process w({mq_binary(), "-q", "memory://jobs", "listen", "--exec", handler}, with_dir(sandbox), sandbox.dir.path(),
            "worker");
  REQUIRE(eventually([&] { return !read_or_empty(sandbox.dir.path() / "pid").empty(); }));
  auto handler_pid = std::stoi(read_file(sandbox.dir.path() / "pid"));
  w.signal(SIGTERM);
  std::this_thread::sleep_for(200ms);
  w.signal(SIGTERM);
  CHECK(w.wait() == 128 + SIGTERM);
  CHECK(::kill(handler_pid, 0) != 0);  // killed and reaped
  auto again = sandbox.mq({"-q", "memory://jobs", "receive", "-w", "0"});
  require_ok(again);
  CHECK(nlohmann::json::parse(again.out)["delivery_count"] == 2);
}

TEST_CASE("worker: the lock is renewed while CMD runs longer than the lock") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "slow"}));
  auto handler =
      script(sandbox.dir.path(), "handler.sh", "cat > /dev/null; touch \"$DIR/started\"; wait_for \"$DIR/go\"\n");
  Process w({mq_binary(), "-q", "memory://jobs", "listen", "-n", "1", "--lock", "1s", "--exec", handler},
            with_dir(sandbox), sandbox.dir.path(), "worker");
  REQUIRE(eventually([&] { return file_exists(sandbox.dir.path() / "started"); }));
  // Without renewal the message would come back after 1s.
  CHECK(sandbox.mq({"-q", "memory://jobs", "receive", "-w", "3s"}).exit_code == 1);
  write_file(sandbox.dir.path() / "go", "");
  CHECK(w.wait() == 0);
  CHECK(w.err().empty());
  CHECK(sandbox.mq({"-q", "memory://jobs", "receive", "-w", "0"}).exit_code == 1);
}

TEST_CASE("worker: a killed worker's message comes back when its lock runs out, with its delivery count raised") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "orphan"}));
  auto handler =
      script(sandbox.dir.path(), "handler.sh", "cat > /dev/null; echo $$ > \"$DIR/pid\"; wait_for \"$DIR/never\"\n");
  Process w({mq_binary(), "-q", "memory://jobs", "listen", "--lock", "1s", "--exec", handler}, with_dir(sandbox),
            sandbox.dir.path(), "worker");
  REQUIRE(eventually([&] { return !read_or_empty(sandbox.dir.path() / "pid").empty(); }));
  w.signal(SIGKILL);
  w.wait();
  ::kill(std::stoi(read_file(sandbox.dir.path() / "pid")), SIGKILL);
  auto again = sandbox.mq({"-q", "memory://jobs", "receive", "--lock", "1m", "-w", "20s"});
  require_ok(again);
  auto envelope = nlohmann::json::parse(again.out);
  CHECK(envelope["message"] == "orphan");
  CHECK(envelope["delivery_count"] == 2);
  // The next worker sees the raised count too.
  require_ok(sandbox.mq({"-q", "memory://jobs", "abandon", envelope["lock_token"].get<std::string>()}));
  auto handler2 = script(sandbox.dir.path(), "handler2.sh", "echo \"$MQ_DELIVERY_COUNT\" > \"$DIR/count\"\n");
  require_ok(worker(sandbox, {"-q", "memory://jobs", "listen", "-n", "1", "--exec", handler2}));
  CHECK(trim(read_file(sandbox.dir.path() / "count")) == "3");
}

TEST_CASE("worker: usage errors are exit 2 before any message is taken") {
  Sandbox sandbox;
  require_ok(sandbox.mq({"-q", "memory://jobs", "send", "kept"}));
  require_error_line(sandbox.mq({"-q", "memory://jobs", "listen", "--exec"}), 2, "--exec needs a command");
  require_error_line(sandbox.mq({"-q", "memory://jobs", "listen", "--exec", "/no/such/handler"}), 2, "cannot run");
  require_error_line(sandbox.mq({"-q", "memory://jobs", "listen", "--exec", "no-such-command-anywhere"}), 2,
                     "command not found");
  require_error_line(sandbox.mq({"-q", "memory://jobs", "listen", "--max-attempts", "3"}), 2, "--exec");
  require_error_line(sandbox.mq({"-q", "memory://jobs", "listen", "--dead-letter", "memory://jobs", "--exec", "true"}),
                     2, "the queue the worker reads");
  require_error_line(sandbox.mq({"-q", "memory://jobs", "listen", "--max-attempts", "0", "--exec", "true"}), 2);
  require_error_line(sandbox.mq({"-q", "memory://jobs", "listen", "--lock", "soon", "--exec", "true"}), 2);
  CHECK(count(sandbox, "memory://jobs") == "1");
}

TEST_CASE("worker: --dead-letter takes a config entry name from the same config file") {
  Sandbox sandbox;
  write_file(sandbox.dir.path() / "config.json",
             R"({"queues": {"jobs": {"uri": "memory://jobs"}, "failures": {"uri": "memory://failures"}}})");
  std::string config = (sandbox.dir.path() / "config.json").string();
  require_ok(sandbox.mq({"--config", config, "-q", "jobs", "send", "bad"}));
  auto result = sandbox.mq({"--config", config, "-q", "jobs", "listen", "-n", "1", "--max-attempts", "1",
                            "--dead-letter", "failures", "--exec", "false"});
  require_ok(result);
  auto dead = sandbox.mq({"-q", "memory://failures", "receive", "-w", "0"});
  require_ok(dead);
  auto envelope = nlohmann::json::parse(dead.out);
  CHECK(envelope["message"] == "bad");
  CHECK(envelope["headers"]["mq_failure_reason"] == "exit status 1");
  CHECK(envelope["headers"]["mq_source_queue"] == "jobs");
}
