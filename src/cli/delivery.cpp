#include "cli/delivery.hpp"

namespace mq::cli {

Delivery::Delivery(Queue& queue, const Formatter& formatter, OutputWriter& writer, Settle settle)
    : queue_(queue), formatter_(formatter), writer_(writer), settle_(settle) {}

void Delivery::settle(std::span<const Envelope> messages) {
  if (messages.empty()) return;
  if (settle_ == Settle::complete) queue_.complete(messages);
  delivered_ += messages.size();
}

// Unprinted messages return to the queue now rather than when their lock or
// the process ends. Without the capability, destroying the Queue does it.
void Delivery::give_back(std::span<const Envelope> messages) {
  if (messages.empty() || settle_ == Settle::none || !queue_.capabilities().abandon) return;
  queue_.abandon(messages);
}

Delivery::Outcome Delivery::deliver(std::vector<Envelope>& batch, const std::atomic<bool>* stop) {
  std::span<const Envelope> all(batch);
  if (!writer_.is_stream()) {
    // A file or terminal keeps what write() accepted: one write per batch.
    for (const auto& envelope : batch) formatter_.append(writer_.buffer(), envelope);
    if (!writer_.flush()) {
      give_back(all);
      return Outcome::reader_gone;
    }
    settle(all);
    return Outcome::done;
  }
  return deliver_to_stream(batch, stop);
}

// A pipe accepts lines its reader may never read (| head -1): one line at a
// time, each settled once the reader has taken it. Settling read lines in
// groups saves a store transaction per line; a group is settled when full,
// before any wait for a slow reader, and before returning.
Delivery::Outcome Delivery::deliver_to_stream(std::vector<Envelope>& batch, const std::atomic<bool>* stop) {
  constexpr std::size_t group = 64;
  constexpr std::size_t long_line = 16 * 1024;  // may block in write() until read
  std::span<const Envelope> all(batch);
  std::size_t unsettled = 0;  // first message read but not settled
  std::size_t next = 0;       // first message not yet known to be read
  auto settle_read = [&] {
    settle(all.subspan(unsettled, next - unsettled));
    unsettled = next;
  };
  for (; next < batch.size();) {
    formatter_.append(writer_.buffer(), batch[next]);
    if (writer_.buffer().size() > long_line) settle_read();
    if (!writer_.flush() || !writer_.wait_until_read(settle_read)) {
      settle_read();
      give_back(all.subspan(next));
      return Outcome::reader_gone;
    }
    ++next;
    if (next - unsettled >= group) settle_read();
    if (stop && stop->load() && next < batch.size()) {
      settle_read();
      give_back(all.subspan(next));
      return Outcome::stopped;
    }
  }
  settle_read();
  return Outcome::done;
}

}  // namespace mq::cli
