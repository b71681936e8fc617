#include "kafka/kafka_consumer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <ranges>

#include "kafka/kafka_producer.hpp"
#include "mq/error.hpp"

namespace mq::kafka {

namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A receive hands out at most this many messages at once, whatever it was
// asked for: the CLI comes back for more, and memory stays flat.
constexpr std::size_t max_batch = 4096;
// Once some messages are out, how long to wait for the rest of those that
// are known to be on the broker ("take further ones while they are at hand").
constexpr auto at_hand_patience = 500ms;
// With autocommit, completed offsets are committed at most this often (and
// always at the first completion, before blocking, and at the end).
constexpr auto commit_interval = 100ms;
// Waiting for messages known to be on the broker, wake the fetcher at most
// this often (see watch_fetch_queue).
constexpr auto nudge_interval = 100ms;
// What librdkafka may fetch ahead of the reader: queued.min.messages and
// fetch.max.bytes. Small enough to keep a long receive's memory flat, large
// enough to keep the network busy.
constexpr std::size_t fetch_ahead_messages = 50000;
constexpr const char* fetch_max_bytes = "4194304";

int millis(Duration duration) { return static_cast<int>(std::min<long long>(duration.count(), 2'147'483'647)); }

int millis_until(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 100));
}

// Errors that say "this group is run by its members": commits from outside
// the group (generation -1) are refused.
bool group_has_members(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
         err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
}

// The first error of a call that returns one code and per-partition codes.
rd_kafka_resp_err_t first_error(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t* list) {
  if (err) return err;
  for (int i = 0; list && i < list->cnt; ++i)
    if (list->elems[i].err) return list->elems[i].err;
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

bool cooperative(rd_kafka_t* handle) { return std::strcmp(rd_kafka_rebalance_protocol(handle), "COOPERATIVE") == 0; }

}  // namespace

Consumer::Consumer(const Settings& settings, bool commits) : settings_(settings), commits_(commits) {
  events_.owner = this;
}

Consumer::~Consumer() {
  try {
    if (handle_ && has_uncommitted()) commit_completed(true);
  } catch (...) {
    // At worst the messages are read again: never lost.
  }
  close();
}

void Consumer::create_handle(bool member) {
  Conf conf = make_conf(settings_, Role::consumer, &events_);
  char errstr[256];
  fetch_queue_limit_ = fetch_ahead_messages;
  if (auto user = user_value("queued.min.messages"))
    fetch_queue_limit_ = std::stoul(*user);
  else
    rd_kafka_conf_set(conf.get(), "queued.min.messages", std::to_string(fetch_ahead_messages).c_str(), errstr,
                      sizeof errstr);
  if (!user_value("fetch.max.bytes"))
    rd_kafka_conf_set(conf.get(), "fetch.max.bytes", fetch_max_bytes, errstr, sizeof errstr);
  if (member) {
    rd_kafka_conf_set_rebalance_cb(conf.get(), on_rebalance);
  } else if (!user_value("fetch.wait.max.ms")) {
    // Partitions join the fetch loop one by one: a first fetch that holds only
    // empty partitions keeps the broker waiting this long before the next
    // fetch asks for the ones with messages. A one-shot reader cannot afford
    // librdkafka's 500 ms.
    rd_kafka_conf_set(conf.get(), "fetch.wait.max.ms", "50", errstr, sizeof errstr);
  }
  handle_ = make_handle(std::move(conf), Role::consumer);
  rd_kafka_poll_set_consumer(handle_.get());
  queue_ = rd_kafka_queue_get_consumer(handle_.get());
}

std::optional<std::string> Consumer::user_value(const std::string& property) const {
  for (const auto& [name, value] : settings_.properties)
    if (name == property) return value;
  return std::nullopt;
}

void Consumer::close() {
  if (!handle_) return;
  rd_kafka_consumer_close(handle_.get());
  for (auto* message : stash_) rd_kafka_message_destroy(message);
  stash_.clear();
  if (queue_) rd_kafka_queue_destroy(queue_);
  queue_ = nullptr;
  handle_.reset();
  partitions_.clear();
  completed_when_revoked_.clear();
  given_back_.clear();
  mode_ = Mode::idle;
}

std::vector<std::int32_t> Consumer::topic_partitions() {
  auto partitions = fetch_partitions(handle_.get(), nullptr, settings_, events_);
  if (!partitions)
    throw BrokerError(
        fmt::format("topic \"{}\" does not exist on the Kafka cluster at {}", settings_.topic, settings_.bootstrap));
  if (partitions->empty())
    throw BrokerError(fmt::format("topic \"{}\" has no partitions with a leader yet", settings_.topic));
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> leaders;
  nudge_partitions_.clear();
  for (const auto& partition : *partitions) {
    ids.push_back(partition.id);
    if (std::find(leaders.begin(), leaders.end(), partition.leader) == leaders.end()) {
      leaders.push_back(partition.leader);
      nudge_partitions_.push_back(partition.id);
    }
  }
  return ids;
}

// librdkafka (2.0) stops fetching while the local queue holds
// queued.min.messages, and looks again only when its broker thread wakes up:
// at the latest a second later. A reader slower than the network would spend
// most of its time waiting for that. Any request to the broker wakes the
// thread, so once the queue has drained, ask each partition leader for an
// offset.
void Consumer::watch_fetch_queue(bool about_to_wait) {
  if (nudge_partitions_.empty()) return;
  auto queued = rd_kafka_queue_length(queue_);
  if (queued >= fetch_queue_limit_) {
    fetcher_parked_ = true;
    return;
  }
  auto now = SteadyClock::now();
  bool drained = fetcher_parked_ && queued <= fetch_queue_limit_ / 2;
  if (!drained && !(about_to_wait && now - last_nudge_ >= nudge_interval)) return;
  fetcher_parked_ = false;
  last_nudge_ = now;
  auto list = make_partition_list(static_cast<int>(nudge_partitions_.size()));
  for (auto partition : nudge_partitions_)
    rd_kafka_topic_partition_list_add(list.get(), settings_.topic.c_str(), partition)->offset = RD_KAFKA_OFFSET_END;
  rd_kafka_offsets_for_times(handle_.get(), list.get(), millis(settings_.request_timeout));
}

std::vector<Consumer::Position> Consumer::read_positions(const std::vector<std::int32_t>& partitions) {
  int count = static_cast<int>(partitions.size());
  auto committed = make_partition_list(count);
  for (auto partition : partitions)
    rd_kafka_topic_partition_list_add(committed.get(), settings_.topic.c_str(), partition);
  PartitionList low(rd_kafka_topic_partition_list_copy(committed.get()));
  PartitionList high(rd_kafka_topic_partition_list_copy(committed.get()));

  auto err = first_error(rd_kafka_committed(handle_.get(), committed.get(), millis(settings_.request_timeout)),
                         committed.get());
  if (err)
    throw BrokerError(
        fmt::format("cannot read the committed offsets of group \"{}\": {}", settings_.group_id, error_text(err)),
        err == RD_KAFKA_RESP_ERR__TIMED_OUT);
  // ListOffsets takes the logical offsets as timestamps: one request per
  // broker for all partitions, instead of two per partition.
  for (int i = 0; i < count; ++i) {
    low->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    high->elems[i].offset = RD_KAFKA_OFFSET_END;
  }
  for (auto* list : {low.get(), high.get()}) {
    err = first_error(rd_kafka_offsets_for_times(handle_.get(), list, millis(settings_.request_timeout)), list);
    if (err)
      throw BrokerError(fmt::format("cannot read the offsets of topic \"{}\": {}", settings_.topic, error_text(err)),
                        err == RD_KAFKA_RESP_ERR__TIMED_OUT);
  }

  std::vector<Position> positions;
  for (int i = 0; i < count; ++i) {
    Position position{committed->elems[i].partition, committed->elems[i].offset, low->elems[i].offset,
                      high->elems[i].offset, 0};
    if (!unread(position))
      position.start = std::min(position.committed, position.high);
    else
      position.start = settings_.from_beginning ? position.low : position.high;
    positions.push_back(position);
  }
  return positions;
}

bool Consumer::unread(const Position& position) {
  return position.committed < 0 || position.committed < position.low;
}

std::vector<Consumer::Position> Consumer::first_commits(const std::vector<Position>& positions) const {
  // Writing back where the group stands changes nothing, and tells whether
  // the coordinator takes commits from a client outside the group. A group
  // that starts at the end is also pinned there on every partition it never
  // read, or each later receive would start at a later end and miss what was
  // sent in between.
  std::vector<Position> commits{positions.front()};
  if (!settings_.from_beginning)
    for (const auto& position : positions | std::views::drop(1))
      if (unread(position)) commits.push_back(position);
  return commits;
}

bool Consumer::try_simple_commit(const std::vector<Position>& commits) {
  auto list = make_partition_list(static_cast<int>(commits.size()));
  for (const auto& position : commits)
    rd_kafka_topic_partition_list_add(list.get(), settings_.topic.c_str(), position.partition)->offset =
        position.start;
  auto err = first_error(rd_kafka_commit(handle_.get(), list.get(), 0), list.get());
  if (group_has_members(err)) return false;
  if (err)
    throw BrokerError(fmt::format("cannot commit offsets for group \"{}\": {}", settings_.group_id, error_text(err)),
                      err == RD_KAFKA_RESP_ERR__TIMED_OUT);
  return true;
}

void Consumer::start_assigned() {
  if (!handle_) create_handle(false);  // count and clear leave an idle one
  auto positions = read_positions(topic_partitions());
  auto commits = first_commits(positions);
  if (commits_ && !try_simple_commit(commits)) {
    close();
    start_member();
    return;
  }
  auto list = make_partition_list(static_cast<int>(positions.size()));
  for (const auto& position : positions) {
    rd_kafka_topic_partition_list_add(list.get(), settings_.topic.c_str(), position.partition)->offset = position.start;
    auto& state = partitions_[position.partition];
    state.position = position.start;
    state.end = position.high;
    state.committed = position.committed;
  }
  if (commits_)
    for (const auto& position : commits) partitions_[position.partition].committed = position.start;
  auto err = rd_kafka_assign(handle_.get(), list.get());
  if (err) throw BrokerError(fmt::format("cannot read topic \"{}\": {}", settings_.topic, error_text(err)));
  mode_ = Mode::assigned;
}

void Consumer::start_member() {
  close();
  create_handle(true);
  topic_partitions();  // a clear error for a topic that does not exist
  auto list = make_partition_list(1);
  rd_kafka_topic_partition_list_add(list.get(), settings_.topic.c_str(), RD_KAFKA_PARTITION_UA);
  auto err = rd_kafka_subscribe(handle_.get(), list.get());
  if (err) throw BrokerError(fmt::format("cannot subscribe to topic \"{}\": {}", settings_.topic, error_text(err)));
  mode_ = Mode::member;
}

void Consumer::on_rebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                            void* opaque) {
  auto* self = static_cast<Consumer*>(static_cast<ClientEvents*>(opaque)->owner);
  ++self->rebalances_;
  try {
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
      self->take_partitions(partitions);
    else
      self->give_back_partitions(partitions);
  } catch (...) {
    // Exceptions must not cross librdkafka's frames; receive() rethrows it.
    self->rebalance_error_ = std::current_exception();
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) rd_kafka_assign(handle, nullptr);
  }
}

void Consumer::take_partitions(rd_kafka_topic_partition_list_t* partitions) {
  std::vector<std::int32_t> ids;
  for (int i = 0; i < partitions->cnt; ++i) ids.push_back(partitions->elems[i].partition);
  std::vector<Position> positions;
  if (!ids.empty()) {
    try {
      positions = read_positions(ids);
    } catch (const BrokerError&) {
      // librdkafka finds the committed offsets itself; only the knowledge of
      // what is at hand is lost.
    }
  }
  for (int i = 0; i < partitions->cnt; ++i) {
    auto& element = partitions->elems[i];
    auto& state = partitions_[element.partition];
    state = PartitionState{};
    for (const auto& position : positions) {
      if (position.partition != element.partition) continue;
      element.offset = position.start;
      state.position = position.start;
      state.end = position.high;
      state.committed = position.committed;
    }
    // Back to this member after a rebalance that refused to commit what it
    // completed here: go on from there, not from the older committed offset.
    auto completed = completed_when_revoked_.find(element.partition);
    if (completed != completed_when_revoked_.end() && completed->second > state.position)
      element.offset = state.position = state.completed_to = completed->second;
  }
  // Partitions not among these have a new owner, who starts from the
  // committed offset whatever this member remembers.
  completed_when_revoked_.clear();
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (cooperative(handle_.get())) {
    if (rd_kafka_error_t* error = rd_kafka_incremental_assign(handle_.get(), partitions)) {
      err = rd_kafka_error_code(error);
      rd_kafka_error_destroy(error);
    }
  } else {
    err = rd_kafka_assign(handle_.get(), partitions);
  }
  if (err)
    throw BrokerError(fmt::format("cannot take partitions of topic \"{}\": {}", settings_.topic, error_text(err)));
  assigned_once_ = true;
  // Tell the group, in its new generation, what was completed before.
  if (has_uncommitted()) commit_completed(true);
}

void Consumer::give_back_partitions(rd_kafka_topic_partition_list_t* partitions) {
  // Partitions lost (session timeout) already belong to someone else: a
  // commit would be refused.
  if (!rd_kafka_assignment_lost(handle_.get()) && has_uncommitted()) commit_completed(true);
  // The coordinator refuses commits once the rebalance has begun (a member
  // may ask to join between a commit and the next) or the assignment was
  // lost. Should the group give a partition back to this member, what it
  // completed here is not handed out again.
  for (int i = 0; partitions && i < partitions->cnt; ++i) {
    auto it = partitions_.find(partitions->elems[i].partition);
    if (it != partitions_.end() && it->second.completed_to >= 0 && it->second.completed_to != it->second.committed)
      completed_when_revoked_[it->first] = it->second.completed_to;
  }
  if (cooperative(handle_.get())) {
    if (auto* error = rd_kafka_incremental_unassign(handle_.get(), partitions)) rd_kafka_error_destroy(error);
    for (int i = 0; i < partitions->cnt; ++i) {
      partitions_.erase(partitions->elems[i].partition);
      forget_partition(partitions->elems[i].partition);
    }
  } else {
    rd_kafka_assign(handle_.get(), nullptr);
    partitions_.clear();
    forget_partition(std::nullopt);
  }
}

void Consumer::wait_for_assignment(Duration patience) {
  auto deadline = SteadyClock::now() + patience;
  while (!assigned_once_) {
    if (SteadyClock::now() >= deadline)
      throw BrokerError(
          fmt::format("could not join consumer group \"{}\" within {}", settings_.group_id, describe(patience)), true);
    if (auto* message = rd_kafka_consumer_poll(handle_.get(), 100)) stash_.push_back(message);
    rethrow_rebalance_error();
  }
}

void Consumer::rethrow_rebalance_error() {
  if (auto error = std::exchange(rebalance_error_, nullptr)) std::rethrow_exception(error);
}

Envelope Consumer::to_envelope(const rd_kafka_message_t* message) const {
  Envelope envelope;
  if (message->payload) envelope.payload.assign(static_cast<const char*>(message->payload), message->len);
  if (message->key) envelope.key.emplace(static_cast<const char*>(message->key), message->key_len);
  bool id_from_header = false;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* value;
    std::size_t size;
    for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      std::string text = value ? std::string(static_cast<const char*>(value), size) : std::string{};
      if (!envelope.message_type && std::strcmp(name, message_type_header) == 0)
        envelope.message_type = std::move(text);
      else if (!envelope.correlation_id && std::strcmp(name, correlation_id_header) == 0)
        envelope.correlation_id = std::move(text);
      else if (!id_from_header && std::strcmp(name, message_id_header) == 0) {
        envelope.message_id = std::move(text);
        id_from_header = true;
      } else
        envelope.headers.push_back(Header{name, std::move(text)});
    }
  }
  if (!id_from_header) {
    // A record without a key (kcat -P, most producers) still gets an id that
    // names it for good: its place in the topic.
    if (envelope.key)
      envelope.message_id = *envelope.key;
    else
      envelope.message_id = fmt::format("{}-{}", message->partition, message->offset);
  }
  rd_kafka_timestamp_type_t type;
  std::int64_t timestamp = rd_kafka_message_timestamp(message, &type);
  if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && timestamp >= 0) {
    envelope.sent_time = TimePoint{Duration{timestamp}};
    // A topic that stamps records when the broker appends them says when
    // they arrived, not when they were sent: show which it is.
    if (type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME) envelope.timestamp = envelope.sent_time;
  }
  envelope.queue = settings_.topic;
  envelope.topic = settings_.topic;
  envelope.partition = message->partition;
  envelope.offset = message->offset;
  envelope.receipt = static_cast<std::uint64_t>(message->offset);
  return envelope;
}

bool Consumer::take(rd_kafka_message_t* message, std::vector<Envelope>& out) {
  struct Release {
    rd_kafka_message_t* message;
    ~Release() { rd_kafka_message_destroy(message); }
  } release{message};

  if (message->err) {
    auto err = message->err;
    if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (auto it = partitions_.find(message->partition); it != partitions_.end()) {
        it->second.at_end = true;
        it->second.position = std::max(it->second.position, message->offset);
      }
      return false;
    }
    switch (err) {
      case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        throw BrokerError(fmt::format("topic \"{}\" does not exist on the Kafka cluster at {}", settings_.topic,
                                      settings_.bootstrap));
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR__AUTHENTICATION:
      case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      case RD_KAFKA_RESP_ERR__FATAL:
        throw BrokerError(fmt::format("reading topic \"{}\": {}", settings_.topic, rd_kafka_message_errstr(message)));
      default:
        return false;  // passing trouble (a broker went away): librdkafka retries
    }
  }
  auto it = partitions_.find(message->partition);
  if (it == partitions_.end()) return false;  // from a partition given away meanwhile
  auto& state = it->second;
  // Fetched again after a leader change: already handed out once.
  if (message->offset < state.position) return false;
  out.push_back(to_envelope(message));
  if (commits_) state.inflight.push_back(Inflight{message->offset, false});
  state.position = message->offset + 1;
  state.at_end = false;
  return true;
}

bool Consumer::more_at_hand() {
  for (auto& [partition, state] : partitions_) {
    std::int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(handle_.get(), settings_.topic.c_str(), partition, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high > state.end)
      state.end = high;
    if (!state.at_end && state.position < state.end) return true;
    if (state.at_end && state.position < high) return true;
  }
  return false;
}

std::vector<Envelope> Consumer::receive(const ReceiveOptions& options) {
  if (mode_ == Mode::idle) {
    if (listening_)
      start_member();
    else
      start_assigned();
  }
  std::vector<Envelope> out;
  std::size_t wanted = std::min(options.max, max_batch);
  if (wanted == 0) return out;
  out.reserve(wanted);
  // A rebalance runs inside the polls below and may take back partitions
  // whose messages are already in `out`.
  receiving_ = &out;
  struct Done {
    std::vector<Envelope>*& receiving;
    ~Done() { receiving = nullptr; }
  } done{receiving_};
  auto start = SteadyClock::now();
  auto deadline = options.wait ? start + *options.wait : SteadyClock::time_point::max();
  if (mode_ == Mode::member && !listening_ && !assigned_once_)
    wait_for_assignment(settings_.request_timeout + settings_.session_timeout);
  if (batch_.size() < max_batch) batch_.resize(max_batch);

  do {
    gather(out, wanted, start, deadline);
  } while (!owned_after_commit(out) && SteadyClock::now() < deadline);
  return out;
}

void Consumer::gather(std::vector<Envelope>& out, std::size_t wanted, SteadyClock::time_point start,
                      SteadyClock::time_point deadline) {
  while (!given_back_.empty() && out.size() < wanted) {
    out.push_back(std::move(given_back_.front()));
    given_back_.pop_front();
  }
  for (auto* message : std::exchange(stash_, {})) take(message, out);
  auto last_message = SteadyClock::now();
  while (out.size() < wanted) {
    ssize_t got = rd_kafka_consume_batch_queue(queue_, 0, batch_.data(), wanted - out.size());
    rethrow_rebalance_error();
    bool took = false;
    for (ssize_t i = 0; i < got; ++i) took |= take(batch_[static_cast<std::size_t>(i)], out);
    if (took) last_message = SteadyClock::now();
    watch_fetch_queue(false);
    if (got > 0) continue;

    auto now = SteadyClock::now();
    bool at_hand = more_at_hand();
    if (!out.empty()) {
      if (!at_hand || now - last_message >= at_hand_patience) break;
    } else if (!at_hand) {
      if (now >= deadline) break;
    } else if (now >= std::max(deadline, start + settings_.request_timeout)) {
      break;
    }
    // About to block: let completed offsets reach the broker first.
    if (out.empty() && has_uncommitted()) commit_completed(mode_ == Mode::member);
    if (at_hand) watch_fetch_queue(true);
    int timeout = out.empty() && !at_hand ? millis_until(deadline) : 100;
    if (auto* message = rd_kafka_consumer_poll(handle_.get(), timeout)) {
      if (take(message, out)) last_message = SteadyClock::now();
    }
    rethrow_rebalance_error();
  }
}

bool Consumer::owned_after_commit(std::vector<Envelope>& out) {
  if (mode_ != Mode::member || !commits_ || out.empty()) return true;
  auto patience = SteadyClock::now() + settings_.request_timeout + settings_.session_timeout;
  while (!out.empty()) {
    auto err = commit_settled();
    if (!group_has_members(err)) return true;
    // A rebalance has begun: wait for it to take back what is no longer ours.
    auto seen = rebalances_;
    while (rebalances_ == seen) {
      if (SteadyClock::now() >= patience) return true;
      if (auto* message = rd_kafka_consumer_poll(handle_.get(), 100)) stash_.push_back(message);
      rethrow_rebalance_error();
    }
  }
  return false;
}

rd_kafka_resp_err_t Consumer::commit_settled() {
  auto list = make_partition_list(static_cast<int>(partitions_.size()));
  for (const auto& [partition, state] : partitions_) {
    // Every offset before the first unsettled message is settled.
    auto offset = state.inflight.empty() ? state.completed_to : state.inflight.front().offset;
    if (offset >= 0 && (offset != state.committed || !state.inflight.empty()))
      rd_kafka_topic_partition_list_add(list.get(), settings_.topic.c_str(), partition)->offset = offset;
  }
  if (list->cnt == 0) return RD_KAFKA_RESP_ERR_NO_ERROR;
  last_commit_ = SteadyClock::now();
  return commit(list.get());
}

rd_kafka_resp_err_t Consumer::commit(const rd_kafka_topic_partition_list_t* offsets) {
  auto err = first_error(rd_kafka_commit(handle_.get(), offsets, 0), offsets);
  if (!err)
    for (int i = 0; i < offsets->cnt; ++i)
      if (auto it = partitions_.find(offsets->elems[i].partition); it != partitions_.end())
        it->second.committed = offsets->elems[i].offset;
  return err;
}

void Consumer::complete(std::span<const Envelope> messages) {
  if (!commits_ || !handle_) return;
  bool any = false;
  for (const auto& envelope : messages) {
    if (!envelope.partition || !envelope.offset) continue;
    auto it = partitions_.find(*envelope.partition);
    if (it == partitions_.end()) continue;  // given away in a rebalance: read again elsewhere
    auto& state = it->second;
    auto& inflight = state.inflight;
    // Messages are mostly completed in the order they came.
    auto entry = !inflight.empty() && inflight.front().offset == *envelope.offset
                     ? inflight.begin()
                     : std::lower_bound(inflight.begin(), inflight.end(), *envelope.offset,
                                        [](const Inflight& item, std::int64_t offset) { return item.offset < offset; });
    if (entry == inflight.end() || entry->offset != *envelope.offset) continue;
    entry->done = true;
    while (!inflight.empty() && inflight.front().done) {
      state.completed_to = inflight.front().offset + 1;
      inflight.pop_front();
    }
    any = true;
  }
  if (!any) return;
  // A member commits at once: a rebalance may begin any moment, and what it
  // printed but had not committed by then is printed again by the new owner.
  auto now = SteadyClock::now();
  if (!settings_.autocommit || mode_ == Mode::member || last_commit_ == SteadyClock::time_point{} ||
      now - last_commit_ >= commit_interval)
    commit_completed(false);
}

bool Consumer::has_uncommitted() const {
  for (const auto& [partition, state] : partitions_)
    if (state.completed_to >= 0 && state.completed_to != state.committed) return true;
  return false;
}

void Consumer::commit_completed(bool quiet) {
  last_commit_ = SteadyClock::now();
  auto list = make_partition_list(static_cast<int>(partitions_.size()));
  for (const auto& [partition, state] : partitions_)
    if (state.completed_to >= 0 && state.completed_to != state.committed)
      rd_kafka_topic_partition_list_add(list.get(), settings_.topic.c_str(), partition)->offset = state.completed_to;
  if (list->cnt == 0) return;
  auto err = commit(list.get());
  if (!err) return;
  if (quiet || (mode_ == Mode::member && group_has_members(err))) return;
  throw BrokerError(fmt::format("cannot commit offsets for group \"{}\": {}", settings_.group_id, error_text(err)),
                    err == RD_KAFKA_RESP_ERR__TIMED_OUT);
}

// A partition cannot skip a message: one given back stays uncommitted (so the
// group's position waits for it) and comes out again from here, ahead of
// newer messages, without refetching those already handed out.
void Consumer::abandon(std::span<const Envelope> messages) {
  for (const auto& envelope : messages) {
    if (!envelope.partition || !envelope.offset) continue;
    auto it = partitions_.find(*envelope.partition);
    if (it == partitions_.end()) continue;  // given away in a rebalance: read again elsewhere
    const auto& inflight = it->second.inflight;
    bool pending = std::any_of(inflight.begin(), inflight.end(),
                               [&](const Inflight& item) { return item.offset == *envelope.offset && !item.done; });
    if (pending || !commits_) given_back_.push_back(envelope);
  }
}

void Consumer::forget_partition(std::optional<std::int32_t> partition) {
  auto from_it = [&](const Envelope& envelope) { return !partition || envelope.partition == partition; };
  std::erase_if(given_back_, from_it);
  if (receiving_) std::erase_if(*receiving_, from_it);
  std::erase_if(stash_, [&](rd_kafka_message_t* message) {
    bool drop = !partition || message->partition == *partition;
    if (drop) rd_kafka_message_destroy(message);
    return drop;
  });
}

void Consumer::begin_listen() {
  listening_ = true;
  if (mode_ != Mode::idle) {
    if (has_uncommitted()) commit_completed(false);
    close();
  }
  start_member();
}

void Consumer::end_listen() {
  std::exception_ptr failure;
  try {
    if (handle_ && has_uncommitted()) commit_completed(false);
  } catch (...) {
    failure = std::current_exception();
  }
  close();  // a member sends LeaveGroup here
  listening_ = false;
  if (failure) std::rethrow_exception(failure);
}

std::uint64_t Consumer::lag() {
  if (!handle_) create_handle(false);
  if (has_uncommitted()) commit_completed(mode_ == Mode::member);
  std::uint64_t total = 0;
  for (const auto& position : read_positions(topic_partitions()))
    total += static_cast<std::uint64_t>(std::max<std::int64_t>(0, position.high - position.start));
  return total;
}

std::uint64_t Consumer::clear() {
  if (!handle_) create_handle(false);
  if (has_uncommitted()) commit_completed(mode_ == Mode::member);
  auto positions = read_positions(topic_partitions());
  auto list = make_partition_list(static_cast<int>(positions.size()));
  std::uint64_t skipped = 0;
  for (const auto& position : positions) {
    rd_kafka_topic_partition_list_add(list.get(), settings_.topic.c_str(), position.partition)->offset = position.high;
    skipped += static_cast<std::uint64_t>(std::max<std::int64_t>(0, position.high - position.start));
  }
  auto err = first_error(rd_kafka_commit(handle_.get(), list.get(), 0), list.get());
  if (!err) return skipped;
  if (!group_has_members(err))
    throw BrokerError(fmt::format("cannot commit offsets for group \"{}\": {}", settings_.group_id, error_text(err)),
                      err == RD_KAFKA_RESP_ERR__TIMED_OUT);

  // The group's members own its offsets: join it, and move the offsets of
  // the partitions it gives us.
  close();
  start_member();
  wait_for_assignment(settings_.request_timeout + settings_.session_timeout);
  skipped = 0;
  for (auto& [partition, state] : partitions_) {
    skipped += static_cast<std::uint64_t>(std::max<std::int64_t>(0, state.end - state.position));
    state.completed_to = state.end;
  }
  commit_completed(false);
  close();
  return skipped;
}

}  // namespace mq::kafka
