// mq listen: stream messages until SIGINT/SIGTERM or N of them; with
// --exec CMD [ARGS...], run CMD once per message instead (cli/worker.cpp).

#include <signal.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>

#include "cli/commands.hpp"
#include "cli/delivery.hpp"
#include "cli/output.hpp"
#include "cli/worker.hpp"
#include "mq/error.hpp"

namespace mq::cli {

namespace {

// receive() waits at most this long, so a stop request is seen promptly.
constexpr Duration poll_interval{250};
constexpr std::size_t batch_size = 1000;

std::atomic<bool> stop_requested{false};

void request_stop(int) { stop_requested.store(true); }

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  // A second signal ends the process at once, as the user expects.
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

struct ListenOptions {
  std::size_t count = 0;  // 0: until stopped
  OutputOptions output;
  bool exec = false;
  // The words after --exec: main() hands everything after it over as operands.
  std::vector<std::string> operands;
  std::optional<int> max_attempts;
  std::optional<std::string> dead_letter;
  std::optional<std::size_t> concurrency;
  std::optional<std::string> lock;
};

int run_listen(const QueueOptions& queue_options, const ListenOptions& options) {
  Formatter formatter(options.output);
  OutputWriter writer;
  install_stop_handlers();
  auto queue = open(queue_options);
  require(*queue, &Capabilities::listen);
  Delivery delivery(*queue, formatter, writer, Delivery::Settle::complete);

  queue->begin_listen();
  while (!stop_requested.load() && (options.count == 0 || delivery.delivered() < options.count)) {
    mq::ReceiveOptions request;
    request.max = options.count == 0 ? batch_size : std::min(batch_size, options.count - delivery.delivered());
    request.wait = poll_interval;
    auto batch = queue->receive(request);
    if (batch.empty()) continue;
    if (delivery.deliver(batch, &stop_requested) != Delivery::Outcome::done) break;
  }
  queue->end_listen();
  return 0;
}

int run_exec(const QueueOptions& queue_options, const ListenOptions& options) {
  WorkerOptions worker;
  worker.command = options.operands;
  // mq listen --exec -- CMD ARGS... says the same.
  if (!worker.command.empty() && worker.command.front() == "--") worker.command.erase(worker.command.begin());
  worker.max_attempts = options.max_attempts;
  worker.dead_letter = options.dead_letter;
  worker.concurrency = options.concurrency;
  if (options.lock) worker.lock = parse_duration(*options.lock);
  worker.count = options.count;
  return run_worker(queue_options, worker);
}

int run_listen_or_exec(const QueueOptions& queue_options, const ListenOptions& options) {
  if (options.exec) return run_exec(queue_options, options);
  const char* needs_exec = options.max_attempts       ? "--max-attempts"
                           : options.dead_letter      ? "--dead-letter"
                           : options.concurrency      ? "--concurrency"
                           : options.lock             ? "--lock"
                                                      : nullptr;
  if (needs_exec) throw UsageError(fmt::format("{} goes with --exec CMD", needs_exec));
  if (!options.operands.empty()) throw UsageError(fmt::format("unexpected argument \"{}\"", options.operands.front()));
  return run_listen(queue_options, options);
}

}  // namespace

Command register_listen(CLI::App& parent, const QueueOptions& queue) {
  auto options = std::make_shared<ListenOptions>();
  auto* app = parent.add_subcommand(
      "listen", "Stream messages as they arrive until interrupted (SIGINT/SIGTERM) or N were printed");
  app->add_option("-n,--count", options->count, "Stop after N messages (with --exec: N completed or dead-lettered)")
      ->type_name("N")
      ->check(positive_count());
  add_output_options(*app, options->output);
  const std::string worker_group = "Worker (--exec)";
  app->add_flag("--exec", options->exec,
                "Run CMD [ARGS...] (the rest of the command line, not through a shell) once per message: payload on "
                "stdin, envelope in MQ_* variables; exit 0 completes the message, anything else gives it back")
      ->group(worker_group);
  app->add_option("--max-attempts", options->max_attempts,
                  "Deliveries before a failing message goes to the dead-letter queue (default: retry until it "
                  "succeeds; 5 with --dead-letter)")
      ->type_name("N")
      ->check(positive_count())
      ->group(worker_group);
  app->add_option_function<std::string>(
         "--dead-letter", [o = options.get()](const std::string& v) { o->dead_letter = v; },
         "Where failed messages go, with the header mq_failure_reason (URI or config entry name; default: the "
         "backend's own dead-letter queue)")
      ->type_name("QUEUE")
      ->group(worker_group);
  app->add_option("--concurrency", options->concurrency,
                  "Run up to K commands at once (default 1; Kafka: read_partitions)")
      ->type_name("K")
      ->check(positive_count())
      ->group(worker_group);
  app->add_option_function<std::string>(
         "--lock", [o = options.get()](const std::string& v) { o->lock = v; },
         "Lock each message for DURATION, renewed while CMD runs (backends with lock tokens; default 30s)")
      ->type_name("DURATION")
      ->group(worker_group);
  app->footer(
      help_footer("On SIGINT/SIGTERM the message in hand is finished and removed, the rest stay queued.\n"
                  "With --exec, the running commands finish first (a second signal kills them) and their\n"
                  "messages are completed or given back by their exit status. --exec comes last: every word\n"
                  "after it belongs to CMD. CMD sees MQ_MESSAGE_ID, MQ_CORRELATION_ID, MQ_MESSAGE_TYPE,\n"
                  "MQ_SENT_TIME, MQ_TOPIC, MQ_DELIVERY_COUNT, MQ_MAX_ATTEMPTS and, where known, MQ_PARTITION,\n"
                  "MQ_OFFSET, MQ_KEY, MQ_HEADERS (JSON), MQ_TIMESTAMP, MQ_QOS, MQ_RETAINED.\n"
                  "Queue options (see mq --help) may follow the command name.",
                  {"mq -q mqtt://localhost/sensors/%23 listen --format payload",
                   "mq -q memory://jobs listen --max-attempts 3 --dead-letter memory://failed --exec ./handle.sh"}));
  return {app, [options, &queue] { return run_listen_or_exec(queue, *options); }, &options->operands};
}

}  // namespace mq::cli
