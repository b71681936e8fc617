// mq complete|abandon|renew|dead-letter TOKEN...: finish messages that
// `mq receive --lock` left locked.

#include "cli/commands.hpp"
#include "mq/error.hpp"

namespace mq::cli {

namespace {

struct TokenOptions {
  std::vector<std::string> tokens;
  std::optional<std::string> lock;  // renew only
};

std::vector<Envelope> envelopes_for(const std::vector<std::string>& tokens) {
  std::vector<Envelope> envelopes(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) envelopes[i].lock_token = tokens[i];
  return envelopes;
}

using Action = void (*)(Queue&, std::span<const Envelope>, const TokenOptions&);

Command register_token_command(CLI::App& parent, const QueueOptions& queue, const std::string& name,
                               const std::string& description, const std::string& example,
                               bool Capabilities::*capability, Action action, bool takes_lock) {
  auto options = std::make_shared<TokenOptions>();
  auto* app = parent.add_subcommand(name, description);
  app->add_option("token", options->tokens, "lock_token values printed by mq receive --lock")->type_name("TOKEN");
  if (takes_lock)
    app->add_option_function<std::string>(
           "--lock", [o = options.get()](const std::string& v) { o->lock = v; }, "The new lock duration (30s, 5m)")
        ->type_name("DURATION")
        ->required();
  app->footer(
      help_footer("Tokens come from mq receive --lock DURATION (memory backend; elsewhere exit 4). A token whose\n"
                  "lock ran out or whose message was finished is refused (exit 3); the others given are done.\n"
                  "Queue options (see mq --help) may follow the command name.",
                  {example, "token=$(mq -q jobs receive --lock 5m --format '{lock_token}') && ./work && mq -q jobs " +
                                std::string(name) + " \"$token\""}));
  return {app,
          [options, &queue, capability, action] {
            if (options->tokens.empty()) throw UsageError("give at least one TOKEN");
            auto opened = open(queue);
            require(*opened, &Capabilities::lock_tokens);
            require(*opened, capability);
            auto envelopes = envelopes_for(options->tokens);
            action(*opened, envelopes, *options);
            return 0;
          },
          &options->tokens};
}

}  // namespace

std::vector<Command> register_lock_commands(CLI::App& parent, const QueueOptions& queue) {
  return {
      register_token_command(
          parent, queue, "complete", "Remove locked messages for good",
          "mq -q memory://jobs complete 12-8ccee91d7bb4a650", &Capabilities::receive,
          [](Queue& q, std::span<const Envelope> e, const TokenOptions&) { q.complete(e); }, false),
      register_token_command(
          parent, queue, "abandon", "Give locked messages back to the queue",
          "mq -q memory://jobs abandon 12-8ccee91d7bb4a650", &Capabilities::abandon,
          [](Queue& q, std::span<const Envelope> e, const TokenOptions&) { q.abandon(e); }, false),
      register_token_command(
          parent, queue, "renew", "Extend the lock of locked messages",
          "mq -q memory://jobs renew 12-8ccee91d7bb4a650 --lock 5m", &Capabilities::renew_lock,
          [](Queue& q, std::span<const Envelope> e, const TokenOptions& o) {
            q.renew_lock(e, parse_duration(*o.lock));
          },
          true),
      register_token_command(
          parent, queue, "dead-letter", "Move locked messages to the dead-letter queue",
          "mq -q memory://jobs dead-letter 12-8ccee91d7bb4a650", &Capabilities::dead_letter,
          [](Queue& q, std::span<const Envelope> e, const TokenOptions&) { q.move_to_dead_letter(e); }, false),
  };
}

}  // namespace mq::cli
