#pragma once
// Reads a topic as a consumer group sees it: committed offsets are the queue
// position, and an offset is committed only for messages completed (printed
// and flushed) in delivery order.
//
// Two ways to be a reader:
// - assigned: all partitions at the group's committed offsets, without joining
//   the group (no rebalance: a one-shot receive answers in milliseconds), and
//   commits as a "simple" group client (generation -1), like kcat and Kafka's
//   own tools do. Brokers accept such commits only while the group has no
//   members; a probe commit finds out before any message is handed out.
// - member: subscribe() as a real group member (listen, or a one-shot receive
//   on a group whose members own the partitions), with a rebalance callback
//   that commits completed offsets before partitions go, and a LeaveGroup at
//   the end.

#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kafka/kafka_client.hpp"
#include "mq/envelope.hpp"
#include "mq/queue.hpp"

namespace mq::kafka {

class Consumer {
 public:
  // `commits` false: a peeking reader that never commits anything.
  Consumer(const Settings& settings, bool commits);
  ~Consumer();  // commits what was completed; a member leaves its group
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  std::vector<Envelope> receive(const ReceiveOptions& options);
  void complete(std::span<const Envelope> messages);
  void abandon(std::span<const Envelope> messages);

  void begin_listen();
  void end_listen();

  // Messages the group has yet to read, summed over partitions.
  std::uint64_t lag();
  // Moves the group's committed offsets to the end; returns how many
  // messages that skipped.
  std::uint64_t clear();

 private:
  enum class Mode { idle, assigned, member };

  struct Inflight {
    std::int64_t offset;
    bool done;
  };
  struct PartitionState {
    std::int64_t position = 0;  // next offset this reader expects
    std::int64_t end = 0;       // high watermark when the partition was assigned
    bool at_end = false;        // the fetcher reported the end of the partition
    std::deque<Inflight> inflight;
    std::int64_t completed_to = -1;  // offset to commit: after the last completed run
    std::int64_t committed = -1;
  };
  struct Position {
    std::int32_t partition;
    std::int64_t committed;  // RD_KAFKA_OFFSET_INVALID when none
    std::int64_t low;
    std::int64_t high;
    std::int64_t start;  // where the group reads next
  };

  void create_handle(bool member);
  std::optional<std::string> user_value(const std::string& property) const;
  void watch_fetch_queue(bool about_to_wait);
  std::vector<std::int32_t> topic_partitions();
  std::vector<Position> read_positions(const std::vector<std::int32_t>& partitions);
  static bool unread(const Position& position);  // no usable committed offset
  std::vector<Position> first_commits(const std::vector<Position>& positions) const;
  bool try_simple_commit(const std::vector<Position>& commits);
  void start_assigned();
  void start_member();
  void wait_for_assignment(Duration patience);
  void rethrow_rebalance_error();

  static void on_rebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                           void* opaque);
  void take_partitions(rd_kafka_topic_partition_list_t* partitions);
  void give_back_partitions(rd_kafka_topic_partition_list_t* partitions);

  Envelope to_envelope(const rd_kafka_message_t* message) const;
  // Returns true when a message (not an event) was added to `out`. Takes
  // ownership of `message`.
  bool take(rd_kafka_message_t* message, std::vector<Envelope>& out);
  bool more_at_hand();
  // Fills `out` with up to `wanted` messages: what is at hand, else the first
  // to arrive before `deadline`.
  void gather(std::vector<Envelope>& out, std::size_t wanted, std::chrono::steady_clock::time_point start,
              std::chrono::steady_clock::time_point deadline);
  // A member hands out only messages of partitions it still owns: the
  // coordinator refuses commits once a rebalance has begun, and the new owner
  // reads from the committed offsets, so whatever is printed after that is
  // printed twice. Commits everything settled first; on a refusal waits for
  // the rebalance, which drops what was taken away. False when that left
  // nothing in `out`.
  bool owned_after_commit(std::vector<Envelope>& out);
  // Commits, for each partition, the offset before which every message is
  // settled. Returns the broker's answer.
  rd_kafka_resp_err_t commit_settled();
  // Commits `offsets` synchronously and records them as committed.
  rd_kafka_resp_err_t commit(const rd_kafka_topic_partition_list_t* offsets);
  bool has_uncommitted() const;
  // Drops what was read from a partition being given away (all when none is
  // named): its new owner reads it again from the committed offset.
  void forget_partition(std::optional<std::int32_t> partition);
  // Commits completed offsets; `quiet` swallows the errors of a member whose
  // partitions are being taken away (their messages are simply read again).
  void commit_completed(bool quiet);
  void close();

  const Settings& settings_;
  const bool commits_;
  ClientEvents events_;
  Handle handle_;
  rd_kafka_queue_t* queue_ = nullptr;
  Mode mode_ = Mode::idle;
  bool listening_ = false;
  bool assigned_once_ = false;
  std::map<std::int32_t, PartitionState> partitions_;
  // Partitions given back in a rebalance with completed messages whose commit
  // was refused: the offset after them, until the next assignment.
  std::map<std::int32_t, std::int64_t> completed_when_revoked_;
  std::chrono::steady_clock::time_point last_commit_{};
  std::vector<rd_kafka_message_t*> batch_;
  std::vector<std::int32_t> nudge_partitions_;  // one per partition leader
  std::size_t fetch_queue_limit_ = 0;
  bool fetcher_parked_ = false;
  std::chrono::steady_clock::time_point last_nudge_{};
  std::vector<rd_kafka_message_t*> stash_;  // polled while waiting to join the group
  std::deque<Envelope> given_back_;          // abandoned, to be received again
  std::vector<Envelope>* receiving_ = nullptr;  // what receive() has taken so far
  std::exception_ptr rebalance_error_;
  std::uint64_t rebalances_ = 0;  // rebalance callbacks so far
};

}  // namespace mq::kafka
