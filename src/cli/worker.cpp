// mq listen --exec CMD [ARGS...]: one run of CMD per message, the payload on
// its stdin, the envelope in its environment. Exit status 0 completes the
// message; anything else gives it back for another delivery, and after
// --max-attempts deliveries it goes to the dead-letter queue.
//
// On a backend with lock tokens (memory) messages are received with a timed
// lock that is renewed while CMD runs: a worker that dies loses nothing, its
// locks run out. Elsewhere a message is in flight to this process until it is
// settled, and messages are settled in the order they arrived, as a Kafka
// commit and MQTT's acknowledgements expect.

#include "cli/worker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <system_error>
#include <thread>

#include "cli/commands.hpp"
#include "mq/error.hpp"
#include "mq/narrate.hpp"
#include "mq/queue.hpp"

extern char** environ;

namespace mq::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr Duration default_lock{30'000};
constexpr int default_max_attempts_with_queue = 5;
// With no command running, receive() waits this long, so that a stop
// request is seen promptly.
constexpr Duration idle_poll{250};
// With commands running and room for more: how often to look for messages.
constexpr Duration busy_poll{50};
// Nothing to look for: the loop still wakes this often, in case a wakeup was lost.
constexpr Duration longest_sleep{1000};

// What the worker sets in CMD's environment; inherited values of these names
// are removed, so a worker inside a worker never sees stale ones.
constexpr const char* envelope_variables[] = {
    "MQ_MESSAGE_ID",     "MQ_CORRELATION_ID", "MQ_MESSAGE_TYPE", "MQ_SENT_TIME",
    "MQ_TOPIC",          "MQ_PARTITION",      "MQ_OFFSET",       "MQ_KEY",
    "MQ_HEADERS",        "MQ_TIMESTAMP",      "MQ_QOS",          "MQ_RETAINED",
    "MQ_DELIVERY_COUNT", "MQ_MAX_ATTEMPTS",
};

// Headers the worker adds to a dead-lettered message.
constexpr const char* failure_reason_header = "mq_failure_reason";
constexpr const char* attempts_header = "mq_attempts";
constexpr const char* source_queue_header = "mq_source_queue";

// --- signals -----------------------------------------------------------------

// The handlers only count and wake the main loop through a pipe.
int wakeup_read_end = -1;
int wakeup_write_end = -1;
std::atomic<int> stop_signals{0};
std::atomic<int> last_stop_signal{0};

void wake() noexcept {
  int saved = errno;
  char byte = 0;
  [[maybe_unused]] auto ignored = ::write(wakeup_write_end, &byte, 1);
  errno = saved;
}

void on_stop_signal(int signal) {
  last_stop_signal.store(signal);
  stop_signals.fetch_add(1);
  wake();
}

void on_child_ended(int) { wake(); }

void install_signal_handlers() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  wakeup_read_end = fds[0];
  wakeup_write_end = fds[1];
  struct sigaction action {};
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  action.sa_handler = on_stop_signal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  action.sa_handler = on_child_ended;
  action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &action, nullptr);
}

// Sleeps until a signal arrives (a stop request, a command ending) or
// `timeout` passes.
void wait_for_wakeup(Duration timeout) {
  pollfd fd{wakeup_read_end, POLLIN, 0};
  ::poll(&fd, 1, static_cast<int>(std::clamp<Duration::rep>(timeout.count(), 0, longest_sleep.count())));
  char drained[64];
  while (::read(wakeup_read_end, drained, sizeof drained) > 0) {
  }
}

// `mq listen --exec CMD | head -1`: once the reader of the output CMD
// inherits is gone, every further CMD would die of SIGPIPE.
bool output_reader_gone() {
  pollfd out{STDOUT_FILENO, 0, 0};
  return ::poll(&out, 1, 0) > 0 && (out.revents & (POLLERR | POLLHUP)) != 0;
}

// --- the command -------------------------------------------------------------

// posix_spawnp would fail only once a message is in hand; find out before.
void check_runnable(const std::string& program) {
  auto problem = [](const std::string& path) -> std::optional<std::string> {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return std::strerror(errno);
    if (S_ISDIR(info.st_mode)) return std::strerror(EISDIR);
    if (::access(path.c_str(), X_OK) != 0) return std::strerror(errno);
    return std::nullopt;
  };
  if (program.empty()) throw UsageError("--exec: the command is empty");
  if (program.find('/') != std::string::npos) {
    if (auto why = problem(program)) throw UsageError(fmt::format("cannot run {:?}: {}", program, *why));
    return;
  }
  const char* path = std::getenv("PATH");
  std::string_view directories = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    auto colon = directories.find(':');
    std::string directory(directories.substr(0, colon));
    if (!problem((directory.empty() ? "." : directory) + "/" + program)) return;
    if (colon == std::string_view::npos) break;
    directories.remove_prefix(colon + 1);
  }
  throw UsageError(fmt::format("cannot run {:?}: command not found", program));
}

std::vector<std::string> command_environment(const Envelope& message, int attempt, std::optional<int> max_attempts) {
  std::vector<std::string> environment;
  for (char** entry = environ; *entry; ++entry) {
    std::string_view text(*entry);
    auto name = text.substr(0, text.find('='));
    if (std::find(std::begin(envelope_variables), std::end(envelope_variables), name) == std::end(envelope_variables))
      environment.emplace_back(text);
  }
  auto set = [&](const char* name, const std::string& value) {
    environment.push_back(fmt::format("{}={}", name, value));
  };
  set("MQ_MESSAGE_ID", message.message_id);
  if (message.correlation_id) set("MQ_CORRELATION_ID", *message.correlation_id);
  if (message.message_type) set("MQ_MESSAGE_TYPE", *message.message_type);
  if (message.sent_time != TimePoint{}) set("MQ_SENT_TIME", format_time(message.sent_time));
  // A memory queue has a name rather than a topic; MQ_QUEUE already means
  // the queue mq itself should use.
  if (auto topic = message.topic ? message.topic : message.queue) set("MQ_TOPIC", *topic);
  if (message.partition) set("MQ_PARTITION", std::to_string(*message.partition));
  if (message.offset) set("MQ_OFFSET", std::to_string(*message.offset));
  if (message.key) set("MQ_KEY", *message.key);
  if (!message.headers.empty()) {
    nlohmann::ordered_json headers = nlohmann::ordered_json::object();
    for (const auto& header : message.headers) headers[header.name] = header.value;
    set("MQ_HEADERS", headers.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  if (message.timestamp) set("MQ_TIMESTAMP", format_time(*message.timestamp));
  if (message.qos) set("MQ_QOS", std::to_string(*message.qos));
  if (message.retained) set("MQ_RETAINED", *message.retained ? "true" : "false");
  set("MQ_DELIVERY_COUNT", std::to_string(attempt));
  if (max_attempts) set("MQ_MAX_ATTEMPTS", std::to_string(*max_attempts));
  return environment;
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (const auto& text : strings) pointers.push_back(const_cast<char*>(text.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// posix_spawn rather than fork: the backends run threads of their own.
pid_t spawn_command(const std::vector<std::string>& command, const std::vector<std::string>& environment,
                    int stdin_fd) {
  struct SpawnSetup {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    SpawnSetup() {
      posix_spawn_file_actions_init(&actions);
      posix_spawnattr_init(&attributes);
    }
    ~SpawnSetup() {
      posix_spawn_file_actions_destroy(&actions);
      posix_spawnattr_destroy(&attributes);
    }
  } setup;
  posix_spawn_file_actions_adddup2(&setup.actions, stdin_fd, STDIN_FILENO);
  // Sockets and stores of this process are none of CMD's business.
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1);
  // mq ignores SIGPIPE; CMD gets the usual dispositions and no blocked signals.
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int signal : {SIGPIPE, SIGINT, SIGTERM, SIGCHLD}) sigaddset(&defaults, signal);
  posix_spawnattr_setsigdefault(&setup.attributes, &defaults);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&setup.attributes, &none);
  posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  auto argv = c_strings(command);
  auto envp = c_strings(environment);
  pid_t pid = -1;
  if (int error = ::posix_spawnp(&pid, argv[0], &setup.actions, &setup.attributes, argv.data(), envp.data()))
    throw Error(ExitCode::usage, fmt::format("cannot run {:?}: {}", command.front(), std::strerror(error)));
  return pid;
}

// Writes a payload into CMD's stdin without holding up the worker: a CMD
// may read its input late, only part of it, or not at all.
class PayloadFeeder {
 public:
  // Takes the pipe's write end, which must be non-blocking.
  PayloadFeeder(int fd, std::string payload) : fd_(fd), payload_(std::move(payload)) {
    if (write_some()) {
      close_pipe();
      return;
    }
    cancel_ = ::eventfd(0, EFD_CLOEXEC);
    if (cancel_ < 0) {
      close_pipe();
      throw std::system_error(errno, std::generic_category(), "eventfd");
    }
    thread_ = std::thread([this] { feed(); });
  }
  ~PayloadFeeder() {
    if (thread_.joinable()) {
      std::uint64_t one = 1;
      [[maybe_unused]] auto ignored = ::write(cancel_, &one, sizeof one);
      thread_.join();
      ::close(cancel_);
    }
    close_pipe();
  }
  PayloadFeeder(const PayloadFeeder&) = delete;
  PayloadFeeder& operator=(const PayloadFeeder&) = delete;

 private:
  // True when there is nothing more to do: all written, or CMD closed its
  // stdin (EPIPE) and does not want the rest.
  bool write_some() {
    while (written_ < payload_.size()) {
      auto n = ::write(fd_, payload_.data() + written_, payload_.size() - written_);
      if (n > 0) {
        written_ += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return !(n < 0 && errno == EAGAIN);
    }
    return true;
  }
  void feed() {
    while (!write_some()) {
      pollfd fds[2] = {{fd_, POLLOUT, 0}, {cancel_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
      if (fds[1].revents != 0) break;
    }
    close_pipe();  // end of input for CMD
  }
  void close_pipe() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  int fd_;
  std::string payload_;
  std::size_t written_ = 0;
  int cancel_ = -1;
  std::thread thread_;
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int signal = WTERMSIG(status);
    const char* name = ::sigabbrev_np(signal);
    return name ? fmt::format("killed by signal {} (SIG{})", signal, name) : fmt::format("killed by signal {}", signal);
  }
  return fmt::format("ended with wait status {}", status);
}

bool succeeded(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// What counts attempts on a backend without delivery counts: a message given
// back comes again with the same partition and offset, or the same id.
std::string identity_of(const Envelope& message) {
  if (message.partition && message.offset)
    return fmt::format("{}\n{}\n{}", message.topic.value_or(""), *message.partition, *message.offset);
  return message.message_id;
}

// --- the worker --------------------------------------------------------------

struct Slot {
  Envelope message;
  std::string identity;
  int attempt = 1;
  pid_t pid = -1;
  std::unique_ptr<PayloadFeeder> feeder;
  std::optional<int> status;  // wait status, once CMD ended
  SteadyClock::time_point renew_at{};
  bool lock_lost = false;
};

struct DeadLetterTarget {
  std::unique_ptr<Queue> queue;  // --dead-letter QUEUE; null: the backend's own
  std::string name;
};

class Worker {
 public:
  Worker(Queue& queue, std::string source_name, const WorkerOptions& options, std::optional<int> max_attempts,
         std::optional<DeadLetterTarget> dead_letter)
      : queue_(queue),
        source_name_(std::move(source_name)),
        options_(options),
        max_attempts_(max_attempts),
        dead_letter_(std::move(dead_letter)),
        locking_(queue.capabilities().lock_tokens && queue.capabilities().renew_lock),
        concurrency_(options.concurrency.value_or(queue.default_concurrency())),
        lock_(options.lock.value_or(default_lock)) {}

  int run() {
    queue_.begin_listen();
    std::exception_ptr failure;
    try {
      loop();
    } catch (...) {
      failure = std::current_exception();
      stopping_ = true;
      wind_down();
    }
    try {
      queue_.end_listen();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
    if (failure) std::rethrow_exception(failure);
    return forced_signal_ ? 128 + forced_signal_ : 0;
  }

 private:
  void loop() {
    while (true) {
      check_signals();
      reap();
      settle_finished();
      if ((stopping_ || count_reached()) && slots_.empty()) return;
      renew_due_locks();
      if (may_take() && take()) continue;
      if (slots_.empty()) continue;  // receive() did the waiting
      wait_for_wakeup(std::min(until_next_renewal(), may_take() ? busy_poll : longest_sleep));
    }
  }

  // After a failure: no new messages; the running commands finish and their
  // messages are settled as far as the queue still allows.
  void wind_down() noexcept {
    while (!slots_.empty()) {
      try {
        check_signals();
        reap();
        settle_finished();
        renew_due_locks();
      } catch (...) {
        // What cannot be settled stays locked or in flight, and comes back.
      }
      if (!slots_.empty()) wait_for_wakeup(until_next_renewal());
    }
  }

  void check_signals() {
    int received = stop_signals.load();
    if (!stopping_ && output_reader_gone()) {
      stopping_ = true;
      narrate("listen: the output's reader is gone: stopping");
    }
    if (received >= 1 && !stopping_) {
      stopping_ = true;
      if (!slots_.empty())
        narrate("listen: stopping after {} running command{} (signal again to kill {})", slots_.size(),
                slots_.size() == 1 ? "" : "s", slots_.size() == 1 ? "it" : "them");
    }
    // A second signal: the commands are killed, their messages given back.
    if (received >= 2 && !forced_signal_) {
      forced_signal_ = last_stop_signal.load();
      for (const auto& slot : slots_)
        if (!slot->status) ::kill(slot->pid, SIGKILL);
    }
  }

  bool count_reached() const { return options_.count != 0 && finished_ >= options_.count; }

  std::size_t room() const {
    if (stopping_ || slots_.size() >= concurrency_) return 0;
    std::size_t room = concurrency_ - slots_.size();
    if (options_.count != 0) {
      std::size_t promised = finished_ + slots_.size();
      room = promised >= options_.count ? 0 : std::min(room, options_.count - promised);
    }
    return room;
  }
  bool may_take() const { return room() != 0; }

  bool take() {
    ReceiveOptions request;
    request.max = room();
    request.wait = slots_.empty() ? idle_poll : Duration{0};
    if (locking_) request.lock = lock_;
    auto batch = queue_.receive(request);
    if (batch.empty()) return false;
    check_signals();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      std::span<const Envelope> rest = std::span<const Envelope>(batch).subspan(i);
      if (stopping_) {
        give_back(rest);
        break;
      }
      try {
        start(batch[i]);
      } catch (...) {
        give_back(rest);
        throw;
      }
    }
    return true;
  }

  void give_back(std::span<const Envelope> messages) {
    try {
      queue_.abandon(messages);
    } catch (const BrokerError& error) {
      // Locked messages come back when their lock runs out.
      if (!locking_) throw;
      print_warning(error.what());
    }
  }

  void start(const Envelope& message) {
    auto slot = std::make_unique<Slot>();
    slot->message = message;
    slot->identity = identity_of(message);
    auto counted = failures_.find(slot->identity);
    slot->attempt =
        std::max(message.delivery_count.value_or(0), (counted == failures_.end() ? 0 : counted->second) + 1);
    slot->renew_at = SteadyClock::now() + lock_ / 2;

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    try {
      slot->pid = spawn_command(options_.command, command_environment(message, slot->attempt, max_attempts_), fds[0]);
    } catch (...) {
      ::close(fds[0]);
      ::close(fds[1]);
      throw;
    }
    ::close(fds[0]);
    ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    slot->feeder = std::make_unique<PayloadFeeder>(fds[1], message.payload);
    note(*slot, fmt::format("started, pid {}", slot->pid));
    slots_.push_back(std::move(slot));
  }

  void reap() {
    for (auto& slot : slots_) {
      if (slot->status) continue;
      int status = 0;
      pid_t ended = ::waitpid(slot->pid, &status, WNOHANG);
      if (ended == slot->pid || (ended < 0 && errno == ECHILD)) {
        slot->status = ended == slot->pid ? status : 255 << 8;
        slot->feeder.reset();
      }
    }
  }

  // Settles messages whose command ended: in any order where messages are
  // locked one by one, else from the oldest on.
  void settle_finished() {
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (!(*it)->status) {
        if (!locking_) break;
        ++it;
        continue;
      }
      auto slot = std::move(*it);
      it = slots_.erase(it);
      settle(*slot);
    }
  }

  void settle(Slot& slot) {
    std::span<const Envelope> one(&slot.message, 1);
    int status = *slot.status;
    if (succeeded(status)) {
      settle_locked(slot, [&] { queue_.complete(one); });
      forget(slot);
      note(slot, "exit status 0: completed");
      return;
    }
    std::string reason = describe_status(status);
    // While stopping, a failure may be the stop's doing: never the last attempt.
    if (!stopping_ && max_attempts_ && slot.attempt >= *max_attempts_) {
      dead_letter(slot, reason);
      forget(slot);
      return;
    }
    settle_locked(slot, [&] { queue_.abandon(one); });
    if (!slot.message.delivery_count) failures_[slot.identity] = slot.attempt;
    note(slot, reason + ": given back");
  }

  void forget(const Slot& slot) {
    failures_.erase(slot.identity);
    ++finished_;
  }

  void dead_letter(Slot& slot, const std::string& reason) {
    std::span<const Envelope> one(&slot.message, 1);
    std::vector<Header> headers;
    for (const auto& header : slot.message.headers)
      if (header.name != failure_reason_header && header.name != attempts_header && header.name != source_queue_header)
        headers.push_back(header);
    headers.push_back({failure_reason_header, reason});
    headers.push_back({attempts_header, std::to_string(slot.attempt)});
    headers.push_back({source_queue_header, source_name_});
    if (dead_letter_->queue) {
      // The original envelope, so that it can be sent back as it was.
      Envelope copy;
      copy.message_id = slot.message.message_id;
      copy.correlation_id = slot.message.correlation_id;
      copy.message_type = slot.message.message_type;
      copy.sent_time = slot.message.sent_time;
      copy.payload = slot.message.payload;
      copy.key = slot.message.key;
      copy.headers = std::move(headers);
      try {
        dead_letter_->queue->send(std::move(copy));
        dead_letter_->queue->flush();
      } catch (...) {
        give_back(one);
        throw;
      }
      // Only now: a crash in between leaves the message in both queues, never in neither.
      settle_locked(slot, [&] { queue_.complete(one); });
    } else {
      // The same message (lock token, receipt) with the reason, for a backend
      // that keeps the headers it is given.
      Envelope failed = slot.message;
      failed.headers = std::move(headers);
      settle_locked(slot, [&] { queue_.move_to_dead_letter(std::span<const Envelope>(&failed, 1)); });
    }
    print_warning(fmt::format("message {} moved to the dead-letter queue {} after {} attempt{}: {}",
                              slot.message.message_id, dead_letter_->name, slot.attempt, slot.attempt == 1 ? "" : "s",
                              reason));
  }

  // A message whose lock ran out belongs to whoever received it next: failing
  // to settle it is worth a warning, not the end of the worker.
  template <typename Action>
  void settle_locked(Slot& slot, Action action) {
    if (!slot.message.lock_token) {
      action();
      return;
    }
    try {
      action();
    } catch (const BrokerError& error) {
      print_warning(fmt::format("message {}: {}", slot.message.message_id, error.what()));
    }
  }

  void renew_due_locks() {
    if (!locking_) return;
    auto now = SteadyClock::now();
    for (auto& slot : slots_) {
      if (slot->status || slot->lock_lost || now < slot->renew_at) continue;
      try {
        queue_.renew_lock(std::span<const Envelope>(&slot->message, 1), lock_);
        slot->renew_at = now + lock_ / 2;
        note(*slot, fmt::format("lock renewed for {}", describe(lock_)));
      } catch (const BrokerError& error) {
        slot->lock_lost = true;
        print_warning(fmt::format("message {}: {}; it may be handled twice", slot->message.message_id, error.what()));
      }
    }
  }

  Duration until_next_renewal() const {
    Duration shortest = longest_sleep;
    if (!locking_) return shortest;
    auto now = SteadyClock::now();
    for (const auto& slot : slots_) {
      if (slot->status || slot->lock_lost) continue;
      auto left = std::chrono::ceil<Duration>(slot->renew_at - now);
      shortest = std::min(shortest, std::max(left, Duration{0}));
    }
    return shortest;
  }

  static void note(const Slot& slot, const std::string& what) {
    narrate("listen: message {} attempt {}: {}", slot.message.message_id, slot.attempt, what);
  }

  Queue& queue_;
  std::string source_name_;
  const WorkerOptions& options_;
  std::optional<int> max_attempts_;
  std::optional<DeadLetterTarget> dead_letter_;
  bool locking_;
  std::size_t concurrency_;
  Duration lock_;
  std::deque<std::unique_ptr<Slot>> slots_;  // in the order received
  std::map<std::string, int> failures_;      // attempts by identity, where the backend does not count
  std::size_t finished_ = 0;                 // completed or dead-lettered
  bool stopping_ = false;
  int forced_signal_ = 0;
};

// --dead-letter QUEUE: a URI or a config entry name, from the same config
// file; the source queue's flags (--host, --set, ...) are not applied to it.
DeadLetterTarget open_dead_letter_queue(const QueueOptions& source_options, const ResolvedConfig& source,
                                        const std::string& spec) {
  ResolveRequest request;
  request.queue = spec;
  request.config_path = source_options.config_path;
  // $MQ_QUEUE chose the source queue, not this one.
  request.env = [env = process_environment()](const char* name) -> std::optional<std::string> {
    if (std::string_view(name) == "MQ_QUEUE") return std::nullopt;
    return env(name);
  };
  ResolvedConfig resolved;
  try {
    resolved = resolve_config(request);
  } catch (const ConfigError& error) {
    throw ConfigError(fmt::format("--dead-letter: {}", error.what()));
  }
  for (const auto& warning : resolved.warnings) print_warning(warning);
  if (resolved.params.entries() == source.params.entries())
    throw UsageError(fmt::format("--dead-letter {}: that is the queue the worker reads", spec));
  DeadLetterTarget target{open_queue(resolved.params), masked_uri(resolved.display_name)};
  require(*target.queue, &Capabilities::send);
  return target;
}

}  // namespace

int run_worker(const QueueOptions& queue_options, const WorkerOptions& options) {
  if (options.command.empty()) throw UsageError("--exec needs a command: --exec CMD [ARGS...]");
  if (options.lock && *options.lock <= Duration{0}) throw UsageError("--lock must be longer than 0");
  check_runnable(options.command.front());

  ResolvedConfig resolved = resolve(queue_options);
  auto queue = open_queue(resolved.params);
  for (auto capability : {&Capabilities::receive, &Capabilities::listen, &Capabilities::abandon})
    require(*queue, capability);
  const auto& capabilities = queue->capabilities();
  if (options.lock) {
    require(*queue, &Capabilities::lock_tokens);
    require(*queue, &Capabilities::renew_lock);
  }

  std::optional<DeadLetterTarget> dead_letter;
  std::optional<int> max_attempts = options.max_attempts;
  if (options.dead_letter) {
    dead_letter = open_dead_letter_queue(queue_options, resolved, *options.dead_letter);
    if (!max_attempts) max_attempts = default_max_attempts_with_queue;
  } else if (max_attempts) {
    if (!capabilities.dead_letter)
      throw Error(ExitCode::unsupported,
                  fmt::format("{} backend does not support dead letter: give --max-attempts a --dead-letter QUEUE",
                              queue->backend()));
    dead_letter = DeadLetterTarget{nullptr, "of " + masked_uri(resolved.display_name)};
  }

  install_signal_handlers();
  Worker worker(*queue, masked_uri(resolved.display_name), options, max_attempts, std::move(dead_letter));
  return worker.run();
}

}  // namespace mq::cli
