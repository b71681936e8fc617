// The memory backend through the Queue interface: one process, one or more
// Queue objects on the same store directory.

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "memory_test_support.hpp"

using namespace std::chrono_literals;
using namespace memtest;

TEST_CASE("memory: messages come out in the order they went in", "[memory]") {
  mqtest::TempDir dir;
  auto queue = open_memory(dir, "fifo");
  std::vector<std::string> sent;
  for (int i = 0; i < 25; ++i) sent.push_back("message " + std::to_string(i));
  send_payloads(*queue, sent);
  REQUIRE(queue->acknowledged() == 25);

  auto first = queue->receive(take(10));
  auto rest = queue->receive(take(100));
  REQUIRE(payloads(first) == std::vector<std::string>(sent.begin(), sent.begin() + 10));
  REQUIRE(payloads(rest) == std::vector<std::string>(sent.begin() + 10, sent.end()));
  queue->complete(first);
  queue->complete(rest);
  REQUIRE(queue->receive(take(1)).empty());
  REQUIRE(queue->message_count() == 0);
}

TEST_CASE("memory: every field and arbitrary payload bytes survive the store", "[memory]") {
  mqtest::TempDir dir;
  auto queue = open_memory(dir, "bytes");
  std::string with_nul("a\0b\0\xff\xfe", 6);
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 256);

  mq::Envelope full = message(with_nul);
  full.message_id = "id-1";
  full.correlation_id = "corr";
  full.message_type = "order.created";
  full.sent_time = mq::TimePoint(mq::Duration(1'700'000'000'123));
  full.key = "key-1";
  full.headers = {{"trace", "x"}, {"trace", std::string("y\0z", 3)}, {"empty", ""}};
  queue->send(full);
  queue->send(message(big));
  queue->send(message(""));
  queue->flush();

  auto got = queue->receive(take(3));
  REQUIRE(got.size() == 3);
  CHECK(got[0].payload == with_nul);
  CHECK(got[0].message_id == "id-1");
  CHECK(got[0].correlation_id == std::optional<std::string>("corr"));
  CHECK(got[0].message_type == std::optional<std::string>("order.created"));
  CHECK(got[0].sent_time == full.sent_time);
  CHECK(got[0].key == std::optional<std::string>("key-1"));
  CHECK(got[0].headers == full.headers);
  CHECK(got[0].queue == std::optional<std::string>("bytes"));
  CHECK(got[0].delivery_count == std::optional<int>(1));
  CHECK_FALSE(got[0].lock_token);
  CHECK(got[1].payload == big);
  CHECK_FALSE(got[1].correlation_id);
  CHECK_FALSE(got[1].key);
  CHECK(got[1].headers.empty());
  CHECK(got[1].message_id.size() == 32);  // stamped on send
  CHECK(got[2].payload.empty());
  queue->complete(got);
}

TEST_CASE("memory: count, peek and clear", "[memory]") {
  mqtest::TempDir dir;
  auto queue = open_memory(dir, "counted");
  REQUIRE(queue->message_count() == 0);
  REQUIRE(queue->peek(5).empty());
  send_payloads(*queue, {"a", "b", "c", "d", "e"});
  REQUIRE(queue->message_count() == 5);

  auto peeked = queue->peek(2);
  REQUIRE(payloads(peeked) == std::vector<std::string>{"a", "b"});
  CHECK(peeked[0].delivery_count == std::optional<int>(0));
  REQUIRE(queue->message_count() == 5);

  auto received = queue->receive(take(1));
  REQUIRE(payloads(received) == std::vector<std::string>{"a"});
  REQUIRE(queue->message_count() == 4);
  REQUIRE(payloads(queue->peek(10)) == std::vector<std::string>{"b", "c", "d", "e"});

  // Another Queue object counts the same store.
  auto other = open_memory(dir, "counted");
  REQUIRE(other->message_count() == 4);

  REQUIRE(queue->clear() == std::optional<std::uint64_t>(5));
  REQUIRE(queue->message_count() == 0);
  REQUIRE(other->peek(10).empty());
  queue->complete(received);  // the message is gone already: nothing to do
  REQUIRE(queue->message_count() == 0);
}

TEST_CASE("memory: complete removes, abandon gives back with a higher delivery count", "[memory]") {
  mqtest::TempDir dir;
  auto queue = open_memory(dir, "settle");
  send_payloads(*queue, {"1", "2", "3", "4"});
  auto got = queue->receive(take(4));
  REQUIRE(got.size() == 4);
  REQUIRE(queue->message_count() == 0);

  queue->complete(std::span(got).subspan(0, 1));
  queue->abandon(std::span(got).subspan(2, 1));  // from the middle of what this process holds
  REQUIRE(queue->message_count() == 1);

  auto other = open_memory(dir, "settle");
  auto again = other->receive(take(10));
  REQUIRE(payloads(again) == std::vector<std::string>{"3"});
  CHECK(again[0].delivery_count == std::optional<int>(2));
  other->complete(again);

  queue->abandon(std::span(got).subspan(1, 1));
  queue->complete(std::span(got).subspan(3, 1));
  auto last = other->receive(take(10));
  REQUIRE(payloads(last) == std::vector<std::string>{"2"});
  other->complete(last);
  REQUIRE(queue->message_count() == 0);

  // Finishing a message twice is an error.
  REQUIRE_THROWS_AS(queue->complete(std::span(got).subspan(0, 1)), mq::BrokerError);
}

TEST_CASE("memory: what a Queue object gives back it can receive and finish again", "[memory]") {
  mqtest::TempDir dir;
  auto queue = open_memory(dir, "again");
  send_payloads(*queue, {"1", "2", "3", "4", "5"});
  auto got = queue->receive(take(5));
  REQUIRE(got.size() == 5);
  queue->abandon(std::span(got).subspan(0, 1));
  queue->abandon(std::span(got).subspan(2, 2));
  auto again = queue->receive(take(5));
  REQUIRE(payloads(again) == std::vector<std::string>{"1", "3", "4"});
  CHECK(again[1].delivery_count == std::optional<int>(2));
  queue->complete(std::span(got).subspan(4, 1));
  queue->complete(again);
  queue->abandon(std::span(got).subspan(1, 1));
  auto last = queue->receive(take(5));
  REQUIRE(payloads(last) == std::vector<std::string>{"2"});
  queue->complete(last);
  REQUIRE(queue->message_count() == 0);
  REQUIRE(queue->peek(5).empty());
  // Settled messages stay settled.
  REQUIRE_THROWS_AS(queue->abandon(again), mq::BrokerError);
  REQUIRE(queue->peek(5).empty());
}

TEST_CASE("memory: a timed lock that runs out makes the message visible again", "[memory]") {
  mqtest::TempDir dir;
  auto queue = open_memory(dir, "timed");
  send_payloads(*queue, {"job"});
  auto locked = queue->receive(take(1, 0ms, 300ms));
  REQUIRE(locked.size() == 1);
  REQUIRE(locked[0].lock_token);
  CHECK(locked[0].delivery_count == std::optional<int>(1));
  REQUIRE(queue->message_count() == 0);
  REQUIRE(queue->receive(take(1)).empty());

  // The waiting receiver wakes up when the lock runs out, not when something is committed.
  auto other = open_memory(dir, "timed");
  auto again = other->receive(take(1, 10s));
  REQUIRE(payloads(again) == std::vector<std::string>{"job"});
  CHECK(again[0].delivery_count == std::optional<int>(2));

  // The first token lost its lock, even though the second holder has none.
  REQUIRE_THROWS_AS(queue->complete(token_only(*locked[0].lock_token)), mq::BrokerError);
  other->complete(again);
  REQUIRE(queue->message_count() == 0);
}

TEST_CASE("memory: renewing a lock keeps the message hidden", "[memory]") {
  mqtest::TempDir dir;
  auto queue = open_memory(dir, "renewed");
  send_payloads(*queue, {"job"});
  auto locked = queue->receive(take(1, 0ms, 200ms));
  REQUIRE(locked.size() == 1);
  queue->renew_lock(locked, 30s);
  std::this_thread::sleep_for(400ms);
  REQUIRE(queue->receive(take(1)).empty());
  REQUIRE(queue->message_count() == 0);
  queue->complete(locked);
  REQUIRE(queue->peek(1).empty());
}

TEST_CASE("memory: a lock token finishes the message from another Queue object", "[memory]") {
  mqtest::TempDir dir;
  send_payloads(*open_memory(dir, "tokens"), {"one", "two", "three", "four"});
  std::vector<std::string> tokens;
  {
    auto receiver = open_memory(dir, "tokens");
    for (const auto& envelope : receiver->receive(take(4, 0ms, 60s))) tokens.push_back(*envelope.lock_token);
  }  // the timed locks outlive the receiver
  REQUIRE(tokens.size() == 4);
  auto later = open_memory(dir, "tokens");
  REQUIRE(later->message_count() == 0);

  later->complete(token_only(tokens[0]));
  later->abandon(token_only(tokens[1]));
  later->renew_lock(token_only(tokens[2]), 60s);
  REQUIRE(later->message_count() == 1);
  auto back = later->receive(take(5));
  REQUIRE(payloads(back) == std::vector<std::string>{"two"});
  CHECK(back[0].delivery_count == std::optional<int>(2));
  later->complete(back);

  // Finished, abandoned or made-up tokens hold nothing.
  REQUIRE_THROWS_AS(later->complete(token_only(tokens[0])), mq::BrokerError);
  REQUIRE_THROWS_AS(later->renew_lock(token_only(tokens[1]), 60s), mq::BrokerError);
  REQUIRE_THROWS_AS(later->complete(token_only("not-a-token")), mq::BrokerError);
  auto forged = tokens[2].substr(0, tokens[2].find('-')) + "-0000000000000000";
  REQUIRE_THROWS_WITH(later->complete(token_only(forged)), Catch::Contains("is not held"));

  // A batch finishes what it can and names what it could not.
  std::vector<mq::Envelope> batch(3);
  batch[0].lock_token = tokens[2];
  batch[1].lock_token = tokens[0];
  batch[2].lock_token = tokens[3];
  REQUIRE_THROWS_WITH(later->complete(batch), Catch::Contains(tokens[0]));
  REQUIRE(later->peek(10).empty());
  REQUIRE(later->message_count() == 0);
}

TEST_CASE("memory: dead letters move to NAME.dlq or the configured queue", "[memory]") {
  mqtest::TempDir dir;
  auto queue = open_memory(dir, "work");
  send_payloads(*queue, {"bad", "good", "worse"});
  auto got = queue->receive(take(2));
  queue->move_to_dead_letter(std::span(got).subspan(0, 1));
  queue->complete(std::span(got).subspan(1, 1));
  auto locked = queue->receive(take(1, 0ms, 60s));
  auto later = open_memory(dir, "work");
  later->move_to_dead_letter(token_only(*locked[0].lock_token));
  REQUIRE(queue->message_count() == 0);
  REQUIRE(queue->peek(5).empty());

  auto dead = open_memory(dir, "work.dlq");
  REQUIRE(dead->message_count() == 2);
  auto letters = dead->receive(take(5));
  REQUIRE(payloads(letters) == std::vector<std::string>{"bad", "worse"});
  CHECK(letters[0].message_id == got[0].message_id);

  auto custom = mq::open_queue(memory_config(dir, "work", {{"options.dead_letter_queue", "graveyard"}}));
  custom->send(message("rotten"));
  custom->flush();
  auto rotten = custom->receive(take(1));
  custom->move_to_dead_letter(rotten);
  REQUIRE(payloads(open_memory(dir, "graveyard")->peek(5)) == std::vector<std::string>{"rotten"});
}

TEST_CASE("memory: names that could leave the store directory are refused", "[memory]") {
  mqtest::TempDir dir;
  std::vector<std::string> bad = {"",         ".",          "..",        ".hidden", "a/b",
                                  "../x",     "a\\b",       "tab\there", "nl\n",    std::string("nul\0x", 5),
                                  "del\x7f", std::string(201, 'n')};
  for (const auto& name : bad) {
    INFO("name: " << name);
    REQUIRE_THROWS_AS(open_memory(dir, name), mq::ConfigError);
  }
  REQUIRE_THROWS_AS(mq::open_queue(memory_config(dir, "ok", {{"options.dead_letter_queue", "../x"}})),
                    mq::ConfigError);
  REQUIRE_THROWS_AS(mq::open_queue(memory_config(dir, "ok", {{"options.dead_letter_queue", "ok"}})),
                    mq::ConfigError);
  REQUIRE(open_memory(dir, std::string(200, 'n')));
  REQUIRE(open_memory(dir, "orders.eu-west:1 #2"));
  // Nothing was created outside the store directory.
  REQUIRE_FALSE(std::filesystem::exists(dir.path().parent_path() / "x.sqlite"));
}

TEST_CASE("memory: the store directory comes from MQ_MEMORY_DIR and is private", "[memory]") {
  mqtest::TempDir dir;
  auto store = dir.path() / "nested" / "store";
  ScopedEnv env("MQ_MEMORY_DIR", store.string());
  auto queue = mq::open_queue(mq::ConfigParams{{"backend", "memory"}, {"topic", "env"}});
  send_payloads(*queue, {"x"});
  REQUIRE(std::filesystem::exists(store / "env.sqlite"));
  struct stat info;
  REQUIRE(::stat(store.c_str(), &info) == 0);
  REQUIRE((info.st_mode & 0777) == 0700);
  // The configuration key wins over the environment.
  auto other = open_memory(dir, "env");
  REQUIRE(other->message_count() == 0);
}

TEST_CASE("memory: messages in flight come back when their Queue object goes away", "[memory]") {
  mqtest::TempDir dir;
  send_payloads(*open_memory(dir, "inflight"), {"a", "b", "c", "d"});
  {
    auto receiver = open_memory(dir, "inflight");
    auto got = receiver->receive(take(3));
    REQUIRE(got.size() == 3);
    receiver->complete(std::span(got).subspan(1, 1));
    REQUIRE(receiver->message_count() == 1);
  }
  auto next = open_memory(dir, "inflight");
  REQUIRE(next->message_count() == 3);
  auto back = next->receive(take(10));
  REQUIRE(payloads(back) == std::vector<std::string>{"a", "c", "d"});
  CHECK(back[0].delivery_count == std::optional<int>(2));
  CHECK(back[2].delivery_count == std::optional<int>(1));
  next->complete(back);
}

TEST_CASE("memory: messages sent without flush are committed all the same", "[memory]") {
  mqtest::TempDir dir;
  {
    auto sender = open_memory(dir, "unflushed");
    for (int i = 0; i < 10; ++i) sender->send(message(std::to_string(i)));
  }
  REQUIRE(open_memory(dir, "unflushed")->message_count() == 10);
  // A Queue object reads what it sent itself, flushed or not.
  auto queue = open_memory(dir, "unflushed");
  queue->send(message("mine"));
  REQUIRE(queue->message_count() == 11);
  queue->send(message("cleared"));
  REQUIRE(queue->clear() == std::optional<std::uint64_t>(12));
}

TEST_CASE("memory: a waiting receiver wakes up for a message from another Queue object", "[memory]") {
  mqtest::TempDir dir;
  auto receiver = open_memory(dir, "wakeup");
  REQUIRE(receiver->receive(take(1)).empty());
  std::thread sender([&] {
    std::this_thread::sleep_for(100ms);
    send_payloads(*open_memory(dir, "wakeup"), {"hello"});
  });
  auto got = receiver->receive(take(1, 30s));
  sender.join();
  REQUIRE(payloads(got) == std::vector<std::string>{"hello"});
  receiver->complete(got);
}

TEST_CASE("memory: a receive wait also bounds waiting for a locked store", "[memory]") {
  mqtest::TempDir dir;
  auto queue = open_memory(dir, "contended");
  send_payloads(*queue, {"x"});
  StoreWriteLock lock(dir, "contended");
  auto start = std::chrono::steady_clock::now();
  auto got = queue->receive(take(1, 300ms));
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE(got.empty());
  REQUIRE(waited < 5s);
}
