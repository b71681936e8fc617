// The memory backend against a model of what a queue must do, through random
// receives, completes, abandons and dead letters by two Queue objects.

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "memory_test_support.hpp"

using namespace memtest;

TEST_CASE("memory: random receives, completes and abandons agree with a model queue", "[memory]") {
  mqtest::TempDir dir;
  constexpr int messages = 600;
  std::vector<std::string> sent;
  for (int i = 0; i < messages; ++i) sent.push_back(std::to_string(i));
  send_payloads(*open_memory(dir, "model"), sent);

  // The model: what is visible (in FIFO order), what each holder has, deliveries so far.
  std::set<int> visible;
  for (int i = 0; i < messages; ++i) visible.insert(i);
  std::map<int, int> deliveries;
  std::set<int> gone;

  std::mt19937 random(20261122);
  auto pick = [&](int below) { return static_cast<int>(random() % static_cast<unsigned>(below)); };
  std::unique_ptr<mq::Queue> queues[2] = {open_memory(dir, "model"), open_memory(dir, "model")};
  std::vector<mq::Envelope> held[2];

  for (int step = 0; step < 3000 && gone.size() < static_cast<std::size_t>(messages); ++step) {
    int who = pick(2);
    auto& queue = *queues[who];
    auto& mine = held[who];
    int action = pick(10);
    if (action < 4) {
      auto max = static_cast<std::size_t>(1 + pick(12));
      auto got = queue.receive(take(max));
      std::vector<int> expected(visible.begin(), visible.end());
      expected.resize(std::min(expected.size(), max));
      std::vector<int> actual;
      for (const auto& envelope : got) actual.push_back(std::stoi(envelope.payload));
      REQUIRE(actual == expected);
      for (const auto& envelope : got) {
        int id = std::stoi(envelope.payload);
        REQUIRE(envelope.delivery_count == std::optional<int>(++deliveries[id]));
        visible.erase(id);
        mine.push_back(envelope);
      }
    } else if (!mine.empty()) {
      // A random subset of what this holder has, in random order.
      std::shuffle(mine.begin(), mine.end(), random);
      auto count = static_cast<std::size_t>(1 + pick(static_cast<int>(mine.size())));
      std::vector<mq::Envelope> chosen(mine.end() - static_cast<std::ptrdiff_t>(count), mine.end());
      mine.resize(mine.size() - count);
      if (action < 7) {
        queue.complete(chosen);
        for (const auto& envelope : chosen) gone.insert(std::stoi(envelope.payload));
      } else if (action < 9) {
        queue.abandon(chosen);
        for (const auto& envelope : chosen) visible.insert(std::stoi(envelope.payload));
      } else {
        queue.move_to_dead_letter(chosen);
        for (const auto& envelope : chosen) gone.insert(std::stoi(envelope.payload));
      }
    }
    if (step % 50 == 0) {
      REQUIRE(queue.message_count() == visible.size());
      std::vector<int> peeked;
      for (const auto& envelope : queue.peek(5)) peeked.push_back(std::stoi(envelope.payload));
      std::vector<int> expected(visible.begin(), visible.end());
      expected.resize(std::min<std::size_t>(expected.size(), 5));
      REQUIRE(peeked == expected);
    }
  }
  // Destroying a holder gives back what it has.
  for (const auto& envelope : held[1]) visible.insert(std::stoi(envelope.payload));
  queues[1].reset();
  REQUIRE(queues[0]->message_count() == visible.size());
  queues[0]->complete(held[0]);
  for (;;) {
    auto batch = queues[0]->receive(take(100));
    if (batch.empty()) break;
    queues[0]->complete(batch);
  }
  REQUIRE(queues[0]->message_count() == 0);
  std::size_t dead = 0;
  for (auto dead_letters = open_memory(dir, "model.dlq");; ) {
    auto batch = dead_letters->receive(take(100));
    if (batch.empty()) break;
    dead += batch.size();
    dead_letters->complete(batch);
  }
  REQUIRE(dead > 0);
}
