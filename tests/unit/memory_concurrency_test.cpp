// The memory backend with several Queue objects at once, and with a process
// that dies holding messages.

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "memory_test_support.hpp"

using namespace std::chrono_literals;
using namespace memtest;

namespace {

// Runs `body`, keeping what it throws: an exception leaving a thread would abort the tests.
class Failures {
 public:
  template <typename Body>
  void guard(Body&& body) {
    try {
      body();
    } catch (const std::exception& error) {
      add(error.what());
    }
  }
  void add(const std::string& problem) {
    std::lock_guard lock(mutex_);
    problems_.push_back(problem);
    any_ = true;
  }
  bool any() const { return any_; }
  std::vector<std::string> list() const {
    std::lock_guard lock(mutex_);
    return problems_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> problems_;
  std::atomic<bool> any_{false};
};

}  // namespace

TEST_CASE("memory: concurrent senders and receivers deliver each message to one receiver at a time",
          "[memory]") {
  mqtest::TempDir dir;
  constexpr int senders = 2, receivers = 3, per_sender = 5000;
  constexpr int total = senders * per_sender;

  Failures failures;
  std::mutex mutex;
  std::set<std::string> in_flight, done;
  std::atomic<int> completed{0};

  auto send = [&](int sender) {
    auto queue = open_memory(dir, "shared");
    for (int i = 0; i < per_sender; ++i) {
      queue->send(message(std::to_string(sender) + ":" + std::to_string(i)));
      if (i % 500 == 0) queue->flush();
    }
    queue->flush();
  };
  auto receive = [&](unsigned receiver) {
    auto queue = open_memory(dir, "shared");
    for (unsigned round = 1; completed.load() < total && !failures.any(); ++round) {
      auto batch = queue->receive(take(1 + (round * 7 + receiver) % 60, 50ms));
      if (batch.empty()) continue;
      // Now and then a batch is given back instead: it must come round again.
      bool give_back = round % 5 == 0;
      {
        std::lock_guard lock(mutex);
        for (const auto& envelope : batch)
          if (!in_flight.insert(envelope.payload).second || done.count(envelope.payload))
            failures.add("delivered twice: " + envelope.payload);
      }
      std::this_thread::yield();  // "processing": another receiver gets a turn meanwhile
      {
        // Forgotten before the queue hears of it: afterwards another receiver may have it.
        std::lock_guard lock(mutex);
        for (const auto& envelope : batch) {
          in_flight.erase(envelope.payload);
          if (!give_back) done.insert(envelope.payload);
        }
      }
      if (give_back) {
        queue->abandon(batch);
      } else {
        queue->complete(batch);
        completed += static_cast<int>(batch.size());
      }
    }
  };

  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s) threads.emplace_back([&, s] { failures.guard([&] { send(s); }); });
  for (unsigned r = 0; r < receivers; ++r) threads.emplace_back([&, r] { failures.guard([&] { receive(r); }); });
  for (auto& thread : threads) thread.join();

  CAPTURE(failures.list());
  REQUIRE_FALSE(failures.any());
  REQUIRE(done.size() == static_cast<std::size_t>(total));
  REQUIRE(completed.load() == total);
  REQUIRE(open_memory(dir, "shared")->message_count() == 0);
}

TEST_CASE("memory: per-sender order holds with two senders at once", "[memory]") {
  mqtest::TempDir dir;
  Failures failures;
  auto sender = [&](char name) {
    failures.guard([&] {
      auto queue = open_memory(dir, "order");
      for (int i = 0; i < 3000; ++i) queue->send(message(name + std::to_string(i)));
      queue->flush();
    });
  };
  std::thread a(sender, 'a'), b(sender, 'b');
  a.join();
  b.join();
  CAPTURE(failures.list());
  REQUIRE_FALSE(failures.any());
  auto queue = open_memory(dir, "order");
  std::map<char, int> next;
  for (;;) {
    auto batch = queue->receive(take(700));
    if (batch.empty()) break;
    for (const auto& envelope : batch) {
      REQUIRE(std::stoi(envelope.payload.substr(1)) == next[envelope.payload[0]]);
      ++next[envelope.payload[0]];
    }
    queue->complete(batch);
  }
  REQUIRE(next['a'] == 3000);
  REQUIRE(next['b'] == 3000);
}

namespace {

// A child process that receives `count` messages without a lock, reports
// through a pipe, then waits for a byte and exits without completing them.
struct DyingReceiver {
  pid_t pid = -1;
  int ready = -1;  // read end: the child has received
  int die = -1;    // write end: tells the child to exit

  DyingReceiver(const mqtest::TempDir& dir, const std::string& name, std::size_t count) {
    int to_parent[2], to_child[2];
    REQUIRE(::pipe(to_parent) == 0);
    REQUIRE(::pipe(to_child) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(to_parent[0]);
      ::close(to_child[1]);
      char received = 0;
      try {
        auto queue = open_memory(dir, name);
        received = static_cast<char>(queue->receive(take(count, 10s)).size());
        (void)::write(to_parent[1], &received, 1);
        char byte;
        (void)::read(to_child[0], &byte, 1);
        ::_exit(0);  // no destructors: the messages stay claimed by a dead process
      } catch (...) {
        ::_exit(3);
      }
    }
    ::close(to_parent[1]);
    ::close(to_child[0]);
    ready = to_parent[0];
    die = to_child[1];
  }

  int wait_until_received() {
    char received = 0;
    return ::read(ready, &received, 1) == 1 ? received : -1;
  }
  void tell_to_die() { (void)::write(die, "x", 1); }
  int reap() {
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(ready);
    ::close(die);
    return status;
  }
};

}  // namespace

TEST_CASE("memory: messages held by a process that died come back at the next open", "[memory]") {
  mqtest::TempDir dir;
  send_payloads(*open_memory(dir, "orphans"), {"a", "b", "c", "d"});
  DyingReceiver child(dir, "orphans", 3);
  REQUIRE(child.wait_until_received() == 3);
  {
    auto alive = open_memory(dir, "orphans");  // the child still runs: its messages stay hidden
    REQUIRE(alive->message_count() == 1);
  }
  child.tell_to_die();
  // Checked before the child is reaped: a zombie holds nothing either.
  std::this_thread::sleep_for(100ms);
  auto next = open_memory(dir, "orphans");
  REQUIRE(next->message_count() == 4);
  auto back = next->receive(take(10));
  REQUIRE(payloads(back) == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(back[0].delivery_count == std::optional<int>(2));
  CHECK(back[3].delivery_count == std::optional<int>(1));
  next->complete(back);
  REQUIRE(WIFEXITED(child.reap()));
}

TEST_CASE("memory: a waiting receiver picks up what a dying process held", "[memory]") {
  mqtest::TempDir dir;
  send_payloads(*open_memory(dir, "rescue"), {"only"});
  DyingReceiver child(dir, "rescue", 1);
  REQUIRE(child.wait_until_received() == 1);
  auto receiver = open_memory(dir, "rescue");
  std::thread killer([&] {
    std::this_thread::sleep_for(200ms);
    child.tell_to_die();
  });
  auto got = receiver->receive(take(1, 20s));
  killer.join();
  REQUIRE(payloads(got) == std::vector<std::string>{"only"});
  CHECK(got[0].delivery_count == std::optional<int>(2));
  receiver->complete(got);
  child.reap();
}

TEST_CASE("memory: a drained store gives its space back", "[memory]") {
  mqtest::TempDir dir;
  auto queue = open_memory(dir, "drained");
  std::string kilobyte(1024, 'k');
  for (int i = 0; i < 30000; ++i) queue->send(message(kilobyte));
  queue->flush();
  for (;;) {
    auto batch = queue->receive(take(1000));
    if (batch.empty()) break;
    queue->complete(batch);
  }
  std::uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "store"))
    if (entry.path().filename().string().rfind("drained.sqlite", 0) == 0) bytes += entry.file_size();
  REQUIRE(bytes < 8u << 20);
}
