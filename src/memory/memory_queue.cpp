// The memory backend: queues shared by every process of the user on the
// host, one SQLite file per queue in the store directory (see queue_store.hpp
// for the tables).
//
// Receiving without a lock claims runs of consecutive rows for this process
// (one claims row per run, the messages themselves untouched); completing
// deletes id ranges. A process killed at any point leaves its claims behind
// with an owner that is no longer running, and the next receiver gives them
// back. Receiving with a lock writes a timed lock and a token into each row
// instead, so that a later process can finish the message.

#include "memory/memory_queue.hpp"

#include <fmt/format.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <map>
#include <thread>

#include "memory/batch_sender.hpp"
#include "memory/process_identity.hpp"
#include "memory/queue_store.hpp"
#include "memory/store_location.hpp"
#include "mq/narrate.hpp"

namespace mq {

namespace memory {

namespace {

// How long writes wait for other processes' transactions before failing.
constexpr std::chrono::seconds write_patience{30};
// A receive that must not wait still waits this long for a busy store: a
// sender's commit takes milliseconds, and the messages are there.
constexpr std::chrono::milliseconds minimum_lock_patience{100};
// Polling for messages from other processes: the pause grows to the longest.
constexpr std::chrono::milliseconds first_pause{1};
constexpr std::chrono::milliseconds longest_pause{50};
// How often a receiver looks for dead processes' claims.
constexpr std::chrono::milliseconds sweep_interval_waiting{250};
constexpr std::chrono::seconds sweep_interval_busy{1};
// An emptied store gives its pages back to the host above this many free pages.
constexpr std::int64_t reclaim_threshold_pages = 1024;

struct Range {
  std::int64_t first = 0;
  std::int64_t last = 0;
};

// Consecutive rows this process holds, under one claims row that spans
// ids.front()..ids.back(). Completed rows are gone and ids are never reused,
// so the claim may go on spanning them; an abandoned row must become
// visible, so abandoning splits the run around it.
struct Run {
  std::vector<std::int64_t> ids;  // ascending
  std::vector<bool> finished;     // completed or dead-lettered
  std::size_t in_flight = 0;

  Range claim() const { return {ids.front(), ids.back()}; }
};

std::int64_t millis(TimePoint t) { return t.time_since_epoch().count(); }

// "<row id>-<64 random bits>": finds the row, and is worthless once the
// row's lock was given to anyone else.
std::string new_lock_token(std::int64_t id) {
  std::uint64_t random = 0;
  auto* bytes = reinterpret_cast<char*>(&random);
  std::size_t got = 0;
  while (got < sizeof random) {
    auto n = ::getrandom(bytes + got, sizeof random - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
    else if (errno != EINTR) throw BrokerError("memory queue: no random numbers for a lock token");
  }
  return fmt::format("{}-{:016x}", id, random);
}

std::optional<std::int64_t> token_row(std::string_view token) {
  std::int64_t id = 0;
  auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), id);
  if (error != std::errc{} || end == token.data() + token.size() || *end != '-' || id <= 0) return std::nullopt;
  return id;
}

std::string not_held(const std::string& token) {
  return fmt::format("lock token {} is not held: expired or already finished", token);
}

class MemoryQueue final : public Queue {
 public:
  MemoryQueue(std::string name, std::string directory, std::string dead_letter_name);
  ~MemoryQueue() override;

  std::string backend() const override { return "memory"; }
  const Capabilities& capabilities() const override;

  void send(Envelope envelope) override;
  void flush() override;
  std::uint64_t acknowledged() const override { return sender_ ? sender_->acknowledged() : 0; }

  std::vector<Envelope> receive(const ReceiveOptions& options) override;
  void complete(std::span<const Envelope> messages) override { settle(messages, Action::complete); }
  void abandon(std::span<const Envelope> messages) override { settle(messages, Action::abandon); }
  void renew_lock(std::span<const Envelope> messages, Duration lock) override {
    settle(messages, Action::renew, lock);
  }
  void move_to_dead_letter(std::span<const Envelope> messages) override { settle(messages, Action::dead_letter); }

  std::vector<Envelope> peek(std::size_t max) override;
  std::uint64_t message_count() override;
  std::optional<std::uint64_t> clear() override;

 private:
  enum class Action { complete, abandon, renew, dead_letter };
  struct Found {
    std::int64_t id;
    std::int64_t deliveries;
    bool expired_lock;  // a timed lock ran out: its token must stop working
    bool starts_run;
  };
  using Deadline = std::optional<SteadyClock::time_point>;

  // Nothing visible: what to watch while waiting.
  struct Quiet {
    std::int64_t data_version = 0;
    std::optional<TimePoint> next_expiry;
  };
  std::optional<std::vector<Envelope>> take(const ReceiveOptions& options, Deadline lock_deadline, Quiet& quiet);
  void scan_visible(std::size_t max, TimePoint now, std::vector<Envelope>& out, std::vector<Found>& found);
  void settle(std::span<const Envelope> messages, Action action, Duration lock = {});
  std::optional<std::pair<std::int64_t, std::size_t>> locate(std::uint64_t receipt) const;
  bool sweep_dead_owners(Deadline lock_deadline);
  std::int64_t release_claims_of(std::int64_t owner);
  std::int64_t register_owner();
  void release_in_flight() noexcept;
  void reclaim_space() noexcept;
  QueueStore& dead_letters();
  void set_write_patience() { store_.connection().set_lock_deadline(SteadyClock::now() + write_patience); }
  // What this object sent is in the store before it reads or clears it (a
  // failed send is reported by flush()).
  void settle_sends() {
    if (sender_) sender_->settle();
  }

  std::string name_;
  std::string directory_;
  std::string dead_letter_name_;
  QueueStore store_;
  Statement load_claims_;
  Statement scan_;
  Statement insert_claim_;
  Statement delete_claim_;
  Statement has_claim_;
  Statement clear_expired_lock_;
  Statement lock_timed_;
  Statement delete_range_;
  Statement release_range_;
  Statement token_complete_;
  Statement token_abandon_;
  Statement token_renew_;
  Statement token_read_;
  Statement token_delete_;
  Statement read_row_;
  Statement owners_;
  Statement insert_owner_;
  Statement delete_owner_;
  Statement owner_claims_;
  Statement delete_owner_claims_;
  Statement count_timed_;
  Statement next_expiry_;
  Statement delete_all_;

  std::unique_ptr<BatchSender> sender_;
  std::unique_ptr<QueueStore> dead_letters_;
  std::optional<std::int64_t> owner_;
  std::map<std::int64_t, Run> runs_;  // by first id
  SteadyClock::time_point last_sweep_;
};

MemoryQueue::MemoryQueue(std::string name, std::string directory, std::string dead_letter_name)
    : name_(std::move(name)),
      directory_(std::move(directory)),
      dead_letter_name_(std::move(dead_letter_name)),
      store_(queue_file(directory_, name_)),
      load_claims_(store_.connection(), "SELECT first, last FROM claims ORDER BY first"),
      scan_(store_.connection(), "SELECT id, lock_until, lock_token, " MQ_MEMORY_ENVELOPE_COLUMNS
                                 " FROM messages WHERE id >= ?1 ORDER BY id"),
      insert_claim_(store_.connection(), "INSERT INTO claims(first, last, owner) VALUES (?1, ?2, ?3)"),
      delete_claim_(store_.connection(), "DELETE FROM claims WHERE first = ?1 AND owner = ?2"),
      has_claim_(store_.connection(), "SELECT last FROM claims WHERE first = ?1 AND owner = ?2"),
      clear_expired_lock_(store_.connection(),
                          "UPDATE messages SET lock_until = NULL, lock_token = NULL WHERE id = ?1"),
      lock_timed_(store_.connection(),
                  "UPDATE messages SET deliveries = deliveries + 1, lock_until = ?2, lock_token = ?3 WHERE id = ?1"),
      delete_range_(store_.connection(), "DELETE FROM messages WHERE id BETWEEN ?1 AND ?2"),
      release_range_(store_.connection(),
                     "UPDATE messages SET deliveries = deliveries + 1 WHERE id BETWEEN ?1 AND ?2"),
      token_complete_(store_.connection(),
                      "DELETE FROM messages WHERE id = ?1 AND lock_token = ?2 AND lock_until > ?3"),
      token_abandon_(store_.connection(),
                     "UPDATE messages SET lock_until = NULL, lock_token = NULL "
                     "WHERE id = ?1 AND lock_token = ?2 AND lock_until > ?3"),
      token_renew_(store_.connection(),
                   "UPDATE messages SET lock_until = ?4 WHERE id = ?1 AND lock_token = ?2 AND lock_until > ?3"),
      token_read_(store_.connection(), "SELECT " MQ_MEMORY_ENVELOPE_COLUMNS
                                       " FROM messages WHERE id = ?1 AND lock_token = ?2 AND lock_until > ?3"),
      token_delete_(store_.connection(), "DELETE FROM messages WHERE id = ?1 AND lock_token = ?2"),
      read_row_(store_.connection(), "SELECT " MQ_MEMORY_ENVELOPE_COLUMNS " FROM messages WHERE id = ?1"),
      owners_(store_.connection(), "SELECT id, pid, start_time, boot_id FROM owners"),
      insert_owner_(store_.connection(), "INSERT INTO owners(pid, start_time, boot_id) VALUES (?1, ?2, ?3)"),
      delete_owner_(store_.connection(), "DELETE FROM owners WHERE id = ?1"),
      owner_claims_(store_.connection(), "SELECT first, last FROM claims WHERE owner = ?1"),
      delete_owner_claims_(store_.connection(), "DELETE FROM claims WHERE owner = ?1"),
      count_timed_(store_.connection(),
                   "SELECT count(*) FROM messages WHERE lock_token IS NOT NULL AND lock_until > ?1"),
      next_expiry_(store_.connection(),
                   "SELECT min(lock_until) FROM messages WHERE lock_token IS NOT NULL AND lock_until > ?1"),
      delete_all_(store_.connection(), "DELETE FROM messages") {
  // Messages a killed process held come back before anyone looks.
  sweep_dead_owners(SteadyClock::now() + write_patience);
}

MemoryQueue::~MemoryQueue() {
  sender_.reset();  // commits what send() was given
  release_in_flight();
}

const Capabilities& MemoryQueue::capabilities() const {
  static const Capabilities all = [] {
    Capabilities c;
    c.message_count = c.send = c.receive = c.peek = c.peek_batch = c.renew_lock = c.abandon = c.dead_letter = c.clear =
        c.listen = c.lock_tokens = true;
    return c;
  }();
  return all;
}

// --- send --------------------------------------------------------------------

void MemoryQueue::send(Envelope envelope) {
  if (!sender_) sender_ = std::make_unique<BatchSender>(store_.path());
  stamp(envelope);
  sender_->send(std::move(envelope));
}

void MemoryQueue::flush() {
  if (sender_) sender_->flush();
}

// --- receive -----------------------------------------------------------------

std::vector<Envelope> MemoryQueue::receive(const ReceiveOptions& options) {
  if (options.max == 0) return {};
  settle_sends();
  auto start = SteadyClock::now();
  Deadline deadline;
  if (options.wait) deadline = start + std::max(*options.wait, Duration{0});
  Deadline lock_deadline;
  if (deadline) lock_deadline = std::max(*deadline, start + minimum_lock_patience);
  if (start - last_sweep_ >= sweep_interval_busy) sweep_dead_owners(lock_deadline);

  auto pause = std::chrono::duration_cast<SteadyClock::duration>(first_pause);
  for (;;) {
    Quiet quiet;
    auto taken = take(options, lock_deadline, quiet);
    if (taken && !taken->empty()) return std::move(*taken);
    if (!taken) return {};  // the store stayed locked until the deadline
    // Nothing visible. Any commit by another connection changes the data
    // version; a timed lock running out or a receiver dying does not, so
    // those are watched for separately.
    const auto& next_expiry = quiet.next_expiry;
    for (;;) {
      auto now = SteadyClock::now();
      if (deadline && now >= *deadline) return {};
      auto wake = now + pause;
      if (deadline) wake = std::min(wake, *deadline);
      if (next_expiry) wake = std::min(wake, now + (*next_expiry - now_ms()) + std::chrono::milliseconds(1));
      std::this_thread::sleep_until(wake);
      pause = std::min<SteadyClock::duration>(pause * 2, longest_pause);
      if (store_.data_version() != quiet.data_version) break;
      if (next_expiry && now_ms() >= *next_expiry) break;
      if (SteadyClock::now() - last_sweep_ >= sweep_interval_waiting && sweep_dead_owners(lock_deadline)) break;
    }
  }
}

std::optional<std::vector<Envelope>> MemoryQueue::take(const ReceiveOptions& options, Deadline lock_deadline,
                                                       Quiet& quiet) {
  auto& connection = store_.connection();
  connection.set_lock_deadline(lock_deadline);
  std::optional<WriteTransaction> transaction;
  try {
    transaction.emplace(connection);
  } catch (const StoreBusy&) {
    if (connection.lock_deadline_passed()) return std::nullopt;
    throw;
  }
  TimePoint now = now_ms();
  std::vector<Envelope> taken;
  std::vector<Found> found;
  scan_visible(options.max, now, taken, found);
  if (taken.empty()) {
    // Read inside the transaction: a commit right after it must count as a change.
    quiet.data_version = store_.data_version();
    StatementScope scope(next_expiry_);
    next_expiry_.bind(1, millis(now));
    if (next_expiry_.step() && !next_expiry_.is_null(0))
      quiet.next_expiry = TimePoint(Duration(next_expiry_.integer(0)));
    return taken;  // the transaction ends without writing
  }

  std::vector<Run> runs;
  std::optional<std::int64_t> new_owner;
  if (options.lock) {
    auto until = millis(now + *options.lock);
    for (std::size_t i = 0; i < taken.size(); ++i) {
      auto token = new_lock_token(found[i].id);
      lock_timed_.bind(1, found[i].id).bind(2, until).bind_text(3, token).run();
      taken[i].lock_token = std::move(token);
      taken[i].delivery_count = static_cast<int>(found[i].deliveries + 1);
    }
  } else {
    if (!owner_) new_owner = register_owner();
    auto owner = owner_ ? *owner_ : *new_owner;
    for (std::size_t i = 0; i < taken.size(); ++i) {
      if (found[i].starts_run) runs.emplace_back();
      runs.back().ids.push_back(found[i].id);
      if (found[i].expired_lock) clear_expired_lock_.bind(1, found[i].id).run();
      taken[i].delivery_count = static_cast<int>(found[i].deliveries + 1);
    }
    for (auto& run : runs) {
      run.finished.assign(run.ids.size(), false);
      run.in_flight = run.ids.size();
      insert_claim_.bind(1, run.claim().first).bind(2, run.claim().last).bind(3, owner).run();
    }
    store_.adjust_counters(0, static_cast<std::int64_t>(taken.size()));
  }
  for (std::size_t i = 0; i < taken.size(); ++i) {
    taken[i].receipt = static_cast<std::uint64_t>(found[i].id);
    taken[i].queue = name_;
  }
  transaction->commit();
  if (new_owner) owner_ = new_owner;
  for (auto& run : runs) {
    auto first = run.ids.front();
    runs_.emplace(first, std::move(run));
  }
  return taken;
}

// The oldest messages nobody holds, in FIFO order. Rows under a claim are
// skipped a whole claim at a time; a skipped row ends a run, so that a claim
// never spans a row it does not hold.
void MemoryQueue::scan_visible(std::size_t max, TimePoint now, std::vector<Envelope>& out, std::vector<Found>& found) {
  std::vector<Range> claims;
  {
    StatementScope scope(load_claims_);
    while (load_claims_.step()) claims.push_back({load_claims_.integer(0), load_claims_.integer(1)});
  }
  StatementScope scope(scan_);
  scan_.bind(1, 0);
  std::size_t next_claim = 0;
  bool starts_run = true;
  while (out.size() < max && scan_.step()) {
    auto id = scan_.integer(0);
    while (next_claim < claims.size() && claims[next_claim].last < id) ++next_claim;
    if (next_claim < claims.size() && claims[next_claim].first <= id) {
      auto resume = claims[next_claim].last + 1;
      ++next_claim;
      scan_.reset();
      scan_.bind(1, resume);
      starts_run = true;
      continue;
    }
    bool has_lock = !scan_.is_null(2);
    if (has_lock && scan_.integer(1) > millis(now)) {
      starts_run = true;
      continue;
    }
    auto stored = QueueStore::read_envelope(scan_, 3);
    found.push_back({id, stored.deliveries, has_lock, starts_run});
    starts_run = false;
    out.push_back(std::move(stored.envelope));
  }
}

// --- complete, abandon, renew, dead letter -----------------------------------

std::optional<std::pair<std::int64_t, std::size_t>> MemoryQueue::locate(std::uint64_t receipt) const {
  auto id = static_cast<std::int64_t>(receipt);
  auto run = runs_.upper_bound(id);
  if (run == runs_.begin()) return std::nullopt;
  --run;
  const auto& ids = run->second.ids;
  auto position = std::lower_bound(ids.begin(), ids.end(), id);
  if (position == ids.end() || *position != id) return std::nullopt;
  return std::pair{run->first, static_cast<std::size_t>(position - ids.begin())};
}

void MemoryQueue::settle(std::span<const Envelope> messages, Action action, Duration lock) {
  if (messages.empty()) return;
  set_write_patience();
  WriteTransaction transaction(store_.connection());
  TimePoint now = now_ms();
  std::vector<std::string> problems;

  // Sort the messages: those finished by token, those in flight to this process.
  std::vector<const Envelope*> by_token;
  // Positions in each run, each with the message that named it.
  std::map<std::int64_t, std::vector<std::pair<std::size_t, const Envelope*>>> by_run;
  auto not_in_flight = [&](const Envelope& message) {
    problems.push_back(fmt::format(
        "message {} is not in flight to this process: already finished or not received here", message.message_id));
  };
  for (const auto& message : messages) {
    if (message.lock_token) {
      by_token.push_back(&message);
      continue;
    }
    auto place = message.receipt ? locate(message.receipt) : std::nullopt;
    if (!place || runs_.at(place->first).finished[place->second]) {
      not_in_flight(message);
      continue;
    }
    by_run[place->first].emplace_back(place->second, &message);
  }
  for (auto& [key, named] : by_run) {
    std::sort(named.begin(), named.end());
    auto same_position = [](const auto& a, const auto& b) { return a.first == b.first; };
    for (auto twice = std::adjacent_find(named.begin(), named.end(), same_position); twice != named.end();
         twice = std::adjacent_find(twice, named.end(), same_position)) {
      not_in_flight(*twice->second);  // named twice in one call
      twice = named.erase(twice);
    }
    StatementScope scope(has_claim_);
    has_claim_.bind(1, key).bind(2, *owner_);
    if (!has_claim_.step())
      throw BrokerError(fmt::format(
          "memory queue {}: messages in flight to this process were given back by another process", name_));
  }

  // Dead letters go into the other queue first: a crash in between leaves a
  // message in both queues, never in neither.
  if (action == Action::dead_letter) {
    std::vector<Envelope> copies;
    std::vector<const Envelope*> held;
    for (const auto* message : by_token) {
      auto id = token_row(*message->lock_token);
      bool found = false;
      if (id) {
        StatementScope scope(token_read_);
        token_read_.bind(1, *id).bind_text(2, *message->lock_token).bind(3, millis(now));
        if ((found = token_read_.step())) copies.push_back(QueueStore::read_envelope(token_read_, 0).envelope);
      }
      if (found) held.push_back(message);
      else problems.push_back(not_held(*message->lock_token));
    }
    by_token = std::move(held);
    for (const auto& [first, named] : by_run) {
      for (auto [position, message] : named) {
        StatementScope scope(read_row_);
        read_row_.bind(1, runs_.at(first).ids[position]);
        if (read_row_.step()) copies.push_back(QueueStore::read_envelope(read_row_, 0).envelope);
      }
    }
    if (!copies.empty()) dead_letters().append(copies, SteadyClock::now() + write_patience);
  }

  std::int64_t deleted = 0;    // rows removed
  std::int64_t unclaimed = 0;  // rows no longer under this process's claims
  for (const auto* message : by_token) {
    const auto& token = *message->lock_token;
    auto id = token_row(token);
    std::int64_t changed = 0;
    if (id) {
      switch (action) {
        case Action::complete:
          changed = token_complete_.bind(1, *id).bind_text(2, token).bind(3, millis(now)).run();
          deleted += changed;
          break;
        case Action::abandon:
          changed = token_abandon_.bind(1, *id).bind_text(2, token).bind(3, millis(now)).run();
          break;
        case Action::renew:
          changed = token_renew_.bind(1, *id).bind_text(2, token).bind(3, millis(now)).bind(4, millis(now + lock)).run();
          break;
        case Action::dead_letter:
          changed = token_delete_.bind(1, *id).bind_text(2, token).run();
          deleted += changed;
          break;
      }
    }
    if (changed == 0 && action != Action::dead_letter) problems.push_back(not_held(token));
  }

  // What each run becomes: applied once the transaction is committed.
  std::vector<std::pair<std::int64_t, std::vector<Run>>> replacements;
  if (action != Action::renew) {
    bool removing = action != Action::abandon;
    auto& statement = removing ? delete_range_ : release_range_;
    for (const auto& [key, named] : by_run) {
      const Run& run = runs_.at(key);
      std::vector<bool> targeted(run.ids.size(), false);
      for (auto [position, message] : named) targeted[position] = true;
      // One statement per stretch of targets, bridging rows already finished.
      for (std::size_t i = 0; i < run.ids.size();) {
        if (!targeted[i]) {
          ++i;
          continue;
        }
        auto last = i;
        for (auto k = i + 1; k < run.ids.size() && (targeted[k] || run.finished[k]); ++k)
          if (targeted[k]) last = k;
        auto changed = statement.bind(1, run.ids[i]).bind(2, run.ids[last]).run();
        unclaimed += changed;
        if (removing) deleted += changed;
        i = last + 1;
      }
      std::vector<Run> pieces;
      if (removing) {
        Run rest = run;
        for (auto [position, message] : named) rest.finished[position] = true;
        rest.in_flight -= named.size();
        if (rest.in_flight > 0) pieces.push_back(std::move(rest));
      } else {
        // The abandoned rows split the run; pieces with nothing in flight go.
        Run piece;
        auto close_piece = [&] {
          if (piece.in_flight > 0) pieces.push_back(std::move(piece));
          piece = Run{};
        };
        for (std::size_t i = 0; i < run.ids.size(); ++i) {
          if (targeted[i]) {
            close_piece();
            continue;
          }
          piece.ids.push_back(run.ids[i]);
          piece.finished.push_back(run.finished[i]);
          if (!run.finished[i]) ++piece.in_flight;
        }
        close_piece();
      }
      bool same_claim = pieces.size() == 1 && pieces[0].claim().first == key &&
                        pieces[0].claim().last == run.claim().last;
      if (!same_claim) {
        delete_claim_.bind(1, key).bind(2, *owner_).run();
        for (const auto& piece : pieces)
          insert_claim_.bind(1, piece.claim().first).bind(2, piece.claim().last).bind(3, *owner_).run();
      }
      replacements.emplace_back(key, std::move(pieces));
    }
  }
  Counters counters{1, 0};
  if (deleted != 0 || unclaimed != 0) counters = store_.adjust_counters(-deleted, -unclaimed);
  transaction.commit();

  for (auto& [key, pieces] : replacements) {
    runs_.erase(key);
    for (auto& piece : pieces) {
      auto first = piece.ids.front();
      runs_.emplace(first, std::move(piece));
    }
  }
  if (deleted != 0 && counters.total == 0) reclaim_space();
  if (!problems.empty()) {
    std::string message = problems.front();
    for (std::size_t i = 1; i < problems.size(); ++i) message += "; " + problems[i];
    throw BrokerError(message);
  }
}

QueueStore& MemoryQueue::dead_letters() {
  if (!dead_letters_) dead_letters_ = std::make_unique<QueueStore>(queue_file(directory_, dead_letter_name_));
  return *dead_letters_;
}

// --- owners ------------------------------------------------------------------

std::int64_t MemoryQueue::register_owner() {
  const auto& self = own_identity();
  insert_owner_.bind(1, self.pid).bind(2, static_cast<std::int64_t>(self.start_time)).bind_text(3, self.boot_id).run();
  return store_.connection().last_insert_id();
}

// Gives back what `owner` held and forgets it; inside a write transaction.
std::int64_t MemoryQueue::release_claims_of(std::int64_t owner) {
  std::vector<Range> claims;
  {
    StatementScope scope(owner_claims_);
    owner_claims_.bind(1, owner);
    while (owner_claims_.step()) claims.push_back({owner_claims_.integer(0), owner_claims_.integer(1)});
  }
  std::int64_t released = 0;
  for (const auto& claim : claims) released += release_range_.bind(1, claim.first).bind(2, claim.last).run();
  delete_owner_claims_.bind(1, owner).run();
  delete_owner_.bind(1, owner).run();
  return released;
}

// Returns true when messages came back.
bool MemoryQueue::sweep_dead_owners(Deadline lock_deadline) {
  last_sweep_ = SteadyClock::now();
  std::vector<std::int64_t> dead;
  {
    StatementScope scope(owners_);
    while (owners_.step()) {
      auto id = owners_.integer(0);
      if (owner_ && id == *owner_) continue;
      ProcessIdentity process{static_cast<pid_t>(owners_.integer(1)), static_cast<std::uint64_t>(owners_.integer(2)),
                              owners_.string(3)};
      if (!is_running(process)) dead.push_back(id);
    }
  }
  if (dead.empty()) return false;
  auto& connection = store_.connection();
  connection.set_lock_deadline(lock_deadline);
  try {
    WriteTransaction transaction(connection);
    std::int64_t released = 0;
    for (auto owner : dead) released += release_claims_of(owner);
    if (released != 0) store_.adjust_counters(0, -released);
    transaction.commit();
    return released != 0;
  } catch (const StoreBusy&) {
    if (connection.lock_deadline_passed()) return false;
    throw;
  }
}

void MemoryQueue::release_in_flight() noexcept {
  if (!owner_) return;
  try {
    set_write_patience();
    WriteTransaction transaction(store_.connection());
    auto released = release_claims_of(*owner_);
    if (released != 0) store_.adjust_counters(0, -released);
    transaction.commit();
  } catch (...) {
    // The claims stay behind; the next receiver finds this process gone.
  }
  owner_.reset();
  runs_.clear();
}

// --- peek, count, clear ------------------------------------------------------

std::vector<Envelope> MemoryQueue::peek(std::size_t max) {
  std::vector<Envelope> out;
  std::vector<Found> found;
  if (max == 0) return out;
  settle_sends();
  set_write_patience();
  ReadTransaction snapshot(store_.connection());
  scan_visible(max, now_ms(), out, found);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].queue = name_;
    out[i].delivery_count = static_cast<int>(found[i].deliveries);
  }
  return out;
}

std::uint64_t MemoryQueue::message_count() {
  settle_sends();
  sweep_dead_owners(SteadyClock::now() + write_patience);
  set_write_patience();
  ReadTransaction snapshot(store_.connection());
  auto counters = store_.read_counters();
  StatementScope scope(count_timed_);
  count_timed_.bind(1, millis(now_ms()));
  std::int64_t timed = count_timed_.step() ? count_timed_.integer(0) : 0;
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, counters.total - counters.in_flight - timed));
}

std::optional<std::uint64_t> MemoryQueue::clear() {
  settle_sends();
  set_write_patience();
  WriteTransaction transaction(store_.connection());
  auto counters = store_.read_counters();
  delete_all_.run();
  store_.adjust_counters(-counters.total, -counters.in_flight);
  transaction.commit();
  reclaim_space();
  return static_cast<std::uint64_t>(counters.total);
}

// A drained store would keep its high-water mark of pages in /dev/shm;
// VACUUM of an empty table takes milliseconds. Best effort.
void MemoryQueue::reclaim_space() noexcept {
  try {
    if (store_.free_pages() < reclaim_threshold_pages) return;
    store_.connection().set_lock_deadline(SteadyClock::now() + minimum_lock_patience);
    store_.connection().execute("VACUUM");
    store_.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (...) {
  }
}

}  // namespace

}  // namespace memory

std::unique_ptr<Queue> open_memory_queue(const ConfigParams& config) {
  std::string name = config.get_string("topic", "default");
  memory::validate_queue_name(name);
  // The derived name is at most 204 bytes: still a valid file name.
  std::string dead_letter = name + ".dlq";
  if (auto configured = config.get("options.dead_letter_queue"); configured && !configured->empty()) {
    memory::validate_queue_name(*configured);
    if (*configured == name)
      throw ConfigError(fmt::format("options.dead_letter_queue: memory queue {:?} cannot be its own dead-letter queue",
                                    name));
    dead_letter = *configured;
  }
  Stopwatch opening;
  std::string directory = memory::store_directory(config);
  auto queue = std::make_unique<memory::MemoryQueue>(name, directory, dead_letter);
  narrate("memory: queue {} is {}, dead letters go to {}; opened in {}", name, memory::queue_file(directory, name),
          dead_letter, opening.text());
  return queue;
}

}  // namespace mq
