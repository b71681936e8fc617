// mq count: how many messages are waiting.

#include <fmt/format.h>

#include "cli/commands.hpp"

namespace mq::cli {

Command register_count(CLI::App& parent, const QueueOptions& queue) {
  auto* app = parent.add_subcommand("count", "Print how many messages are waiting");
  app->footer(
      "Example:\n"
      "  mq -q memory://jobs count\n"
      "\nKafka: the consumer group's lag summed over partitions.\n"
      "Queue options (see mq --help) may follow the command name.");
  return {app, [&queue] {
            auto opened = open(queue);
            require(*opened, &Capabilities::message_count);
            fmt::print("{}\n", opened->message_count());
            return 0;
          }};
}

}  // namespace mq::cli
