// Never lose a message: what a reader did not take stays in the queue, a
// killed receiver loses nothing, concurrent receivers share the work.

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <thread>

#include "cli_support.hpp"

using namespace mqtest;
using namespace clitest;

namespace {

std::vector<std::string> sequence(int from, int to, const std::string& prefix = {}) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

// Receives until the queue stays empty for `quiet`.
std::vector<std::string> drain(const Sandbox& sandbox, const std::string& queue, const std::string& quiet = "0") {
  std::vector<std::string> all;
  while (true) {
    auto result = sandbox.mq({"-q", queue, "receive", "-n", "100000", "-w", quiet});
    if (result.exit_code == 1) return all;
    REQUIRE(result.exit_code == 0);
    for (auto& payload : payloads(result.out)) all.push_back(std::move(payload));
  }
}

}  // namespace

TEST_CASE("receive | head -1 leaves the unprinted messages in the queue") {
  Sandbox sandbox;
  auto result = sandbox.sh("seq 10 | $MQ send -l && $MQ receive -n 10 | head -1 && $MQ count");
  require_ok(result);
  auto out = lines(result.out);
  REQUIRE(out.size() == 2);
  REQUIRE(nlohmann::json::parse(out[0]).at("message") == "1");
  REQUIRE(out[1] == "9");
  REQUIRE(result.err.empty());
  REQUIRE(drain(sandbox, "memory://default") == sequence(2, 10));
}

TEST_CASE("receive | head -n 5 with payload format leaves exactly the rest every time") {
  Sandbox sandbox;
  require_ok(sandbox.sh("seq 1000 | $MQ send -l"));
  for (int round = 0; round < 5; ++round) {
    auto result = sandbox.sh("$MQ receive -n 1000 --format payload | head -n 5");
    require_ok(result);
    REQUIRE(lines(result.out) == sequence(round * 5 + 1, round * 5 + 5));
    REQUIRE(sandbox.mq({"count"}).out == std::to_string(1000 - 5 * (round + 1)) + "\n");
  }
  // A reader that ends without reading anything: nothing is removed.
  require_ok(sandbox.sh("$MQ receive -n 10 | true"));
  REQUIRE(sandbox.mq({"count"}).out == "975\n");
}

TEST_CASE("listen | head -2 leaves the rest") {
  Sandbox sandbox;
  require_ok(sandbox.sh("seq 10 | $MQ send -l"));
  auto result = sandbox.sh("$MQ listen | head -2");
  require_ok(result);
  REQUIRE(lines(result.out).size() == 2);
  REQUIRE(sandbox.mq({"count"}).out == "8\n");
}

TEST_CASE("a receiver killed with SIGKILL mid-stream loses nothing") {
  Sandbox sandbox;
  require_ok(sandbox.sh("seq 2000 | $MQ send -q memory://k -l"));
  auto fifo = sandbox.dir.path() / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  Env env = sandbox.env;
  env["FIFO"] = fifo.string();

  // The receiver writes into a pipe whose reader takes a line every few ms.
  Process receiver({"/bin/sh", "-c", "exec \"$MQ\" receive -q memory://k -n 100000 --format payload > \"$FIFO\""},
                   env, sandbox.dir.path(), "receiver");
  Process reader({"/bin/sh", "-c", "while IFS= read -r line; do printf '%s\\n' \"$line\"; sleep 0.002; done < \"$FIFO\""},
                 env, sandbox.dir.path(), "reader");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (lines(reader.out()).size() < 100 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  receiver.signal(SIGKILL);
  REQUIRE(receiver.wait(10s) == 128 + SIGKILL);
  REQUIRE(reader.wait(10s) == 0);

  auto printed = lines(reader.out());
  REQUIRE(printed.size() >= 100);
  REQUIRE(printed.size() < 2000);
  auto rest = drain(sandbox, "memory://k", "1s");
  std::vector<std::string> all = printed;
  all.insert(all.end(), rest.begin(), rest.end());
  std::sort(all.begin(), all.end());
  // Messages read but not yet completed at the kill show up twice: the
  // receiver completes what a pipe reader took in groups of up to 64.
  auto expected = sequence(1, 2000);
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> unique = all;
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  REQUIRE(unique == expected);
  REQUIRE(all.size() <= expected.size() + 65);
}

TEST_CASE("three senders and three receivers at once: every message received exactly once") {
  Sandbox sandbox;
  auto dir = sandbox.dir.path();
  std::vector<std::unique_ptr<Process>> processes;
  for (int r = 1; r <= 3; ++r)
    processes.push_back(std::make_unique<Process>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 "while \"$MQ\" receive -q memory://shared -n 300 -w 3s; do :; done"},
        sandbox.env, dir, "receiver" + std::to_string(r)));
  for (int s = 1; s <= 3; ++s)
    processes.push_back(std::make_unique<Process>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 "seq 2000 | sed 's/^/s" + std::to_string(s) + "-/' | \"$MQ\" send -q memory://shared -l"},
        sandbox.env, dir, "sender" + std::to_string(s)));
  for (auto& process : processes) REQUIRE(process->wait(60s).has_value());
  for (int s = 3; s < 6; ++s) {
    INFO(processes[s]->err());
    REQUIRE(processes[s]->wait() == 0);
  }

  std::vector<std::string> received, ids;
  for (int r = 0; r < 3; ++r) {
    // A receiver's loop ends with "nothing arrived" and nothing else.
    INFO("receiver " << r << ": " << processes[r]->err());
    REQUIRE(lines(processes[r]->err()).size() == 1);
    REQUIRE(processes[r]->err().find("nothing arrived") != std::string::npos);
  }
  for (int r = 0; r < 3; ++r)
    for (const auto& envelope : json_lines(processes[r]->out())) {
      received.push_back(envelope.at("message").get<std::string>());
      ids.push_back(envelope.at("message_id").get<std::string>());
    }
  auto rest = drain(sandbox, "memory://shared");  // normally none
  received.insert(received.end(), rest.begin(), rest.end());

  std::vector<std::string> expected;
  for (int s = 1; s <= 3; ++s)
    for (auto& payload : sequence(1, 2000, "s" + std::to_string(s) + "-")) expected.push_back(payload);
  std::sort(expected.begin(), expected.end());
  std::sort(received.begin(), received.end());
  REQUIRE(received.size() == 6000);
  REQUIRE(received == expected);
  std::sort(ids.begin(), ids.end());
  REQUIRE(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
}
