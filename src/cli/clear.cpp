// mq clear: remove every waiting message.

#include <fmt/format.h>

#include "cli/commands.hpp"

namespace mq::cli {

Command register_clear(CLI::App& parent, const QueueOptions& queue) {
  auto* app = parent.add_subcommand("clear", "Remove all waiting messages; prints how many when the backend knows");
  app->footer(help_footer(
      "Kafka: moves the group's committed offsets to the end. MQTT: clears retained\n"
      "messages under the topic filter.\n"
      "Queue options (see mq --help) may follow the command name.",
      {"mq -q memory://jobs clear", "mq -q mqtt://localhost/status/%23 clear"}));
  return {app, [&queue] {
            auto opened = open(queue);
            require(*opened, &Capabilities::clear);
            if (auto removed = opened->clear()) fmt::print("{}\n", *removed);
            return 0;
          }};
}

}  // namespace mq::cli
