// mq send: each argument, a file, stdin, or each line/record/envelope of them, is a message.

#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/output.hpp"
#include "cli/progress.hpp"
#include "mq/envelope_json.hpp"
#include "mq/error.hpp"
#include "mq/narrate.hpp"

namespace mq::cli {

namespace {

struct SendOptions {
  std::vector<std::string> messages;
  std::optional<std::string> file;
  bool lines = false;
  std::optional<std::string> delimiter;
  bool nul = false;
  bool envelopes = false;
  std::optional<std::string> type;
  std::optional<std::string> correlation_id;
  std::optional<std::string> message_id;
  std::optional<std::string> key;
  std::vector<std::string> headers;  // K=V
  std::optional<int> qos;
  bool retain = false;
  std::optional<std::int32_t> partition;
  bool print = false;
  Progress::Mode progress = Progress::Mode::automatic;
};

// What the flags say about every message sent.
struct Stamp {
  std::optional<std::string> type, correlation_id, message_id, key;
  std::vector<Header> headers;
  std::optional<int> qos;
  std::optional<bool> retained;
  std::optional<std::int32_t> partition;

  void apply(Envelope& envelope) const {
    if (type) envelope.message_type = type;
    if (correlation_id) envelope.correlation_id = correlation_id;
    if (message_id) envelope.message_id = *message_id;
    if (key) envelope.key = key;
    for (const auto& header : headers) {
      bool replaced = false;
      for (auto& existing : envelope.headers)
        if (existing.name == header.name) existing.value = header.value, replaced = true;
      if (!replaced) envelope.headers.push_back(header);
    }
    if (qos) envelope.qos = qos;
    if (retained) envelope.retained = retained;
    if (partition) envelope.partition = partition;
    stamp(envelope);
  }
};

// Hands messages to the queue and turns an unacknowledged flush into the
// "N of M" error; with --print, echoes what was acknowledged.
class Sender {
 public:
  Sender(Queue& queue, const Stamp& stamp, bool print, Progress& progress)
      : queue_(queue), stamp_(stamp), print_(print), progress_(progress) {}

  void send(Envelope envelope) {
    stamp_.apply(envelope);
    if (print_) pending_.push_back(envelope);
    try {
      queue_.send(std::move(envelope));
    } catch (const SendFailed& failure) {
      throw not_acknowledged(failure.acknowledged, handed_ + 1, failure.what());
    } catch (const BrokerError& failure) {
      throw not_acknowledged(queue_.acknowledged(), handed_ + 1, failure.what());
    }
    ++handed_;
    progress_.update(handed_);
    // --print shows only acknowledged messages; keep the backlog bounded.
    if (print_ && pending_.size() >= 1000) flush();
  }

  void flush() {
    if (handed_ == flushed_) return;
    try {
      queue_.flush();
    } catch (const SendFailed& failure) {
      throw not_acknowledged(failure.acknowledged, handed_, failure.what());
    }
    flushed_ = handed_;
    if (!print_) return;
    for (const auto& envelope : pending_) {
      append_envelope_json(echo_.buffer(), envelope, EnvelopeForm::native);
      echo_.buffer() += '\n';
    }
    pending_.clear();
    progress_.erase_before_output();
    if (echo_open_) echo_open_ = echo_.flush();
    echo_.buffer().clear();
  }

  std::uint64_t handed() const { return handed_; }

 private:
  static Error not_acknowledged(std::uint64_t acknowledged, std::uint64_t handed, const std::string& why) {
    return Error(ExitCode::broker, fmt::format("{} of {} messages acknowledged: {}", acknowledged, handed, why));
  }

  Queue& queue_;
  const Stamp& stamp_;
  bool print_;
  Progress& progress_;
  std::uint64_t handed_ = 0;
  std::uint64_t flushed_ = 0;
  std::vector<Envelope> pending_;
  OutputWriter echo_;
  bool echo_open_ = true;
};

Stamp stamp_from(const SendOptions& options) {
  Stamp stamp{options.type, options.correlation_id, options.message_id, options.key, {}, options.qos,
              std::nullopt, options.partition};
  if (options.retain) stamp.retained = true;
  for (const auto& header : options.headers) {
    auto eq = header.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError(fmt::format("--header expects NAME=VALUE, got \"{}\"", header));
    stamp.headers.push_back({header.substr(0, eq), header.substr(eq + 1)});
  }
  return stamp;
}

bool is_blank(std::string_view text) { return text.find_first_not_of(" \t\r\n") == std::string_view::npos; }

void send_records(Sender& sender, const SendOptions& options, int fd, const std::string& name) {
  char delimiter = '\n';
  if (options.nul) delimiter = '\0';
  else if (options.delimiter) delimiter = parse_delimiter(*options.delimiter)[0];
  RecordReader reader(fd, name, delimiter);
  // A slow producer's messages are acknowledged as they come, not at the end.
  reader.on_stall([&] { sender.flush(); });
  while (auto record = reader.next()) {
    if (options.envelopes) {
      if (is_blank(*record)) continue;
      Envelope envelope;
      try {
        envelope = parse_envelope_json(*record);
      } catch (const std::invalid_argument& bad) {
        sender.flush();  // everything before the bad line is sent and acknowledged
        throw InputError(reader.record_number(), bad.what());
      }
      sender.send(std::move(envelope));
    } else {
      // Like mosquitto_pub -l: an empty line is no message.
      if (record->empty()) continue;
      Envelope envelope;
      envelope.payload.assign(record->data(), record->size());
      sender.send(std::move(envelope));
    }
  }
}

int run_send(const QueueOptions& queue_options, const SendOptions& options) {
  bool delimited = options.lines || options.delimiter || options.nul || options.envelopes;
  if (!options.messages.empty() && (options.file || delimited))
    throw UsageError("give messages as arguments or with --file/--lines/--envelopes, not both");
  if (options.messages.empty() && !options.file && isatty(STDIN_FILENO))
    throw UsageError("nothing to send: give MESSAGE arguments, --file FILE, or pipe stdin");
  Stamp stamp = stamp_from(options);

  auto queue = open(queue_options);
  require(*queue, &Capabilities::send);
  // Only records come in thousands; arguments and whole files do not.
  Progress progress(delimited ? options.progress : Progress::Mode::never, "sent");
  Sender sender(*queue, stamp, options.print, progress);
  Stopwatch sending;

  if (!options.messages.empty()) {
    for (const auto& message : options.messages) {
      Envelope envelope;
      envelope.payload = message;
      sender.send(std::move(envelope));
    }
  } else {
    std::string name = options.file && *options.file != "-" ? *options.file : "stdin";
    int fd = options.file ? open_input(*options.file) : STDIN_FILENO;
    struct Closer {
      int fd;
      ~Closer() {
        if (fd != STDIN_FILENO) ::close(fd);
      }
    } closer{fd};
    if (delimited) {
      send_records(sender, options, fd, name);
    } else {
      Envelope envelope;
      envelope.payload = read_all(fd, name);
      sender.send(std::move(envelope));
    }
  }
  sender.flush();
  progress.finish(sender.handed());
  if (narrating()) {
    double seconds = std::chrono::duration<double>(sending.elapsed()).count();
    narrate("sent {} message{}, every one acknowledged, in {}{}", sender.handed(), sender.handed() == 1 ? "" : "s",
            sending.text(),
            seconds > 0 && sender.handed() > 1
                ? fmt::format(" ({} msg/s)", group_digits(static_cast<std::uint64_t>(sender.handed() / seconds)))
                : "");
  }
  return 0;
}

template <typename T>
CLI::Option* add_optional(CLI::App& app, const std::string& names, std::optional<T>& target,
                          const std::string& description) {
  return app.add_option_function<T>(names, [&target](const T& value) { target = value; }, description);
}

}  // namespace

Command register_send(CLI::App& parent, const QueueOptions& queue) {
  auto options = std::make_shared<SendOptions>();
  auto* app = parent.add_subcommand("send", "Send messages; exits 0 once every one is acknowledged");
  app->add_option("message", options->messages, "Each argument is one message")->type_name("MESSAGE");
  add_optional(*app, "-f,--file", options->file, "Send the file as one message (with -l: each line); - is stdin")
      ->type_name("PATH");
  app->add_flag("-l,--lines", options->lines, "Each line of stdin (or --file) is a message; empty lines are skipped");
  add_optional(*app, "-d,--delimiter", options->delimiter, "Split records on C instead of newline (\\n, \\t, \\0)")
      ->type_name("C");
  app->add_flag("-0", options->nul, "Split records on NUL (like find -print0)");
  app->add_flag("-e,--envelopes", options->envelopes,
                "Each line is a JSON envelope, as receive prints it or in the pip-services form");
  add_optional(*app, "--type", options->type, "message_type of every message")->type_name("TYPE");
  add_optional(*app, "--correlation-id", options->correlation_id, "correlation_id of every message")
      ->type_name("ID");
  add_optional(*app, "--message-id", options->message_id, "message_id (default: a new one per message)")
      ->type_name("ID");
  add_optional(*app, "--key", options->key, "Key (Kafka record key; default: the message_id)")->type_name("KEY");
  app->add_option("-H,--header", options->headers, "Header NAME=VALUE (repeatable)")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);
  add_optional(*app, "--qos", options->qos, "MQTT QoS of these messages (0, 1, 2)")->type_name("QOS");
  app->add_flag("--retain", options->retain, "MQTT: the broker keeps the last message for new subscribers");
  add_optional(*app, "--partition", options->partition, "Kafka partition")->type_name("N");
  app->add_flag("--print", options->print, "Print each acknowledged message as a JSON envelope");
  add_progress_options(*app, options->progress);
  app->footer(help_footer(
      "Exit status 0 only once every message is acknowledged; 3 when some were not (the error says how\n"
      "many were); 5 for a bad --envelopes line (the lines before it were sent).\n"
      "Queue options (see mq --help) may follow the command name.",
      {"mq -q memory://jobs send 'hello' 'world'",
       "seq 100000 | mq send -q kafka://localhost/numbers --lines",
       "mq receive -q memory://a -n 100 | mq send -q memory://b --envelopes"}));
  return {app, [options, &queue] { return run_send(queue, *options); }, &options->messages};
}

}  // namespace mq::cli
