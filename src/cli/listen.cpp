// mq listen: stream messages until SIGINT/SIGTERM or N of them.

#include <signal.h>

#include <algorithm>
#include <atomic>

#include "cli/commands.hpp"
#include "cli/delivery.hpp"
#include "cli/output.hpp"

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

}  // namespace

Command register_listen(CLI::App& parent, const QueueOptions& queue) {
  auto options = std::make_shared<ListenOptions>();
  auto* app = parent.add_subcommand(
      "listen", "Stream messages as they arrive until interrupted (SIGINT/SIGTERM) or N were printed");
  app->add_option("-n,--count", options->count, "Stop after N messages")->type_name("N")->check(positive_count());
  add_output_options(*app, options->output);
  app->footer(
      "Example:\n"
      "  mq -q mqtt://localhost/sensors/%23 listen --format payload\n"
      "\nOn SIGINT/SIGTERM the message in hand is finished and removed, the rest stay queued.\n"
      "Queue options (see mq --help) may follow the command name.");
  return {app, [options, &queue] { return run_listen(queue, *options); }};
}

}  // namespace mq::cli
