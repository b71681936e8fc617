// mq receive: take up to N messages off the queue, printing each before it is removed.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "cli/commands.hpp"
#include "cli/delivery.hpp"
#include "cli/output.hpp"
#include "cli/progress.hpp"
#include "mq/error.hpp"
#include "mq/narrate.hpp"

namespace mq::cli {

namespace {

// Messages per receive() call: bounds memory and the output buffer.
constexpr std::size_t batch_size = 1000;

// After the first message, further ones are taken while they are at hand. A
// broker backend's next message may be a network round trip away although it
// is already on its way, so later calls wait this long (never longer than
// --wait); a backend with the message at hand returns at once.
constexpr Duration grace{100};

struct ReceiveOptions {
  std::size_t count = 1;
  std::optional<std::string> wait;
  std::optional<std::string> lock;
  OutputOptions output;
  Progress::Mode progress = Progress::Mode::automatic;
};

int run_receive(const QueueOptions& queue_options, const ReceiveOptions& options) {
  std::optional<Duration> wait;
  if (options.wait) wait = parse_duration(*options.wait);
  std::optional<Duration> lock;
  if (options.lock) lock = parse_duration(*options.lock);
  Formatter formatter(options.output);
  OutputWriter writer;

  auto queue = open(queue_options);
  require(*queue, &Capabilities::receive);
  if (lock) require(*queue, &Capabilities::lock_tokens);
  Delivery delivery(*queue, formatter, writer, lock ? Delivery::Settle::keep_locked : Delivery::Settle::complete);
  Progress progress(options.progress, "received", options.count);
  Stopwatch receiving;
  auto report = [&] {
    progress.finish(delivery.delivered());
    if (!narrating()) return;
    double seconds = std::chrono::duration<double>(receiving.elapsed()).count();
    narrate("received {} message{} in {}{}", delivery.delivered(), delivery.delivered() == 1 ? "" : "s",
            receiving.text(),
            seconds > 0 && delivery.delivered() > 1
                ? fmt::format(" ({} msg/s)", group_digits(static_cast<std::uint64_t>(delivery.delivered() / seconds)))
                : "");
  };

  while (delivery.delivered() < options.count) {
    mq::ReceiveOptions request;
    request.max = std::min(batch_size, options.count - delivery.delivered());
    request.lock = lock;
    if (delivery.delivered() == 0) request.wait = wait;
    else request.wait = wait ? std::min(*wait, grace) : grace;
    auto batch = queue->receive(request);
    if (batch.empty()) break;
    progress.erase_before_output();
    // A reader that went away (| head -1) is a normal end, not an error.
    if (delivery.deliver(batch) == Delivery::Outcome::reader_gone) {
      report();
      return 0;
    }
    progress.update(delivery.delivered());
  }
  report();
  if (delivery.delivered() == 0)
    throw Error(ExitCode::nothing_arrived, fmt::format("nothing arrived within {}", describe(wait.value_or(Duration{0}))));
  return 0;
}

}  // namespace

Command register_receive(CLI::App& parent, const QueueOptions& queue) {
  auto options = std::make_shared<ReceiveOptions>();
  auto* app = parent.add_subcommand(
      "receive", "Receive and remove up to N messages; each is removed only after it was printed");
  app->add_option("-n,--count", options->count, "How many messages at most (default 1)")
      ->type_name("N")
      ->check(positive_count());
  app->add_option_function<std::string>(
         "-w,--wait", [o = options.get()](const std::string& v) { o->wait = v; },
         "How long to wait for the first message (500ms, 5s, 2m; 0: do not wait; default: until one arrives)")
      ->type_name("DURATION");
  app->add_option_function<std::string>(
         "--lock", [o = options.get()](const std::string& v) { o->lock = v; },
         "Leave the messages locked for DURATION instead of removing them; finish them with "
         "mq complete|abandon|dead-letter TOKEN")
      ->type_name("DURATION");
  add_output_options(*app, options->output);
  add_progress_options(*app, options->progress);
  app->footer(help_footer(
      "A template (--format) names fields in braces: {message_id} {correlation_id} {message_type}\n"
      "{sent_time} {message} {queue} {topic} {partition} {offset} {key} {timestamp} {qos} {retained}\n"
      "{lock_token} {delivery_count} {headers} (JSON) {header.NAME}; absent ones print as nothing.\n"
      "\\n, \\t, \\0 and \\\\ are escapes, {{ and }} braces. A newline follows each message unless the\n"
      "template ends with one (or -d/-0 say otherwise).\n"
      "Exit status 1 when nothing arrived within --wait.\n"
      "Queue options (see mq --help) may follow the command name.",
      {"mq -q memory://jobs receive -n 10 -w 5s",
       "mq receive -q kafka://localhost/orders -n 100 --format '{topic} {partition}:{offset} {message}'",
       "mq receive -q mqtt://localhost/sensors/%23 -n 5 --pretty"}));
  return {app, [options, &queue] { return run_receive(queue, *options); }};
}

}  // namespace mq::cli
