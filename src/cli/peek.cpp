// mq peek: print up to N waiting messages without removing them.

#include "cli/commands.hpp"
#include "cli/delivery.hpp"
#include "cli/output.hpp"
#include "mq/error.hpp"

namespace mq::cli {

namespace {

struct PeekOptions {
  std::size_t count = 1;
  OutputOptions output;
};

int run_peek(const QueueOptions& queue_options, const PeekOptions& options) {
  Formatter formatter(options.output);
  OutputWriter writer;
  auto queue = open(queue_options);
  // One message needs peek; more need peek batch.
  require(*queue, options.count > 1 ? &Capabilities::peek_batch : &Capabilities::peek);
  auto messages = queue->peek(options.count);
  if (messages.empty()) throw Error(ExitCode::nothing_arrived, "the queue is empty");
  Delivery(*queue, formatter, writer, Delivery::Settle::none).deliver(messages);
  return 0;
}

}  // namespace

Command register_peek(CLI::App& parent, const QueueOptions& queue) {
  auto options = std::make_shared<PeekOptions>();
  auto* app = parent.add_subcommand("peek", "Print up to N waiting messages without removing them");
  app->add_option("-n,--count", options->count, "How many messages at most (default 1)")
      ->type_name("N")
      ->check(positive_count());
  add_output_options(*app, options->output);
  app->footer(help_footer(
      "Exit status 1 when the queue is empty. The output options are those of mq receive.\n"
      "Queue options (see mq --help) may follow the command name.",
      {"mq -q memory://jobs peek -n 5 --pretty",
       "mq -q mqtt://localhost/status/%23 peek -n 100 --format '{topic} {message}'"}));
  return {app, [options, &queue] { return run_peek(queue, *options); }};
}

}  // namespace mq::cli
