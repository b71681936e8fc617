// mq count: how many messages are waiting.

#include <fmt/format.h>

#include "cli/commands.hpp"

namespace mq::cli {

Command register_count(CLI::App& parent, const QueueOptions& queue) {
  auto* app = parent.add_subcommand("count", "Print how many messages are waiting");
  app->footer(help_footer(
      "Kafka: the consumer group's lag summed over partitions.\n"
      "Queue options (see mq --help) may follow the command name.",
      {"mq -q memory://jobs count", "mq -q kafka://localhost/orders --group billing count",
       "test \"$(mq -q jobs count)\" -eq 0 && echo drained"}));
  return {app, [&queue] {
            auto opened = open(queue);
            require(*opened, &Capabilities::message_count);
            fmt::print("{}\n", opened->message_count());
            return 0;
          }};
}

}  // namespace mq::cli
