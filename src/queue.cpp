#include "mq/queue.hpp"

namespace mq {

std::span<const CapabilityRow> capability_table() {
  static constexpr CapabilityRow rows[] = {
      {"send", &Capabilities::send},
      {"receive", &Capabilities::receive},
      {"listen", &Capabilities::listen},
      {"peek", &Capabilities::peek},
      {"peek batch", &Capabilities::peek_batch},
      {"message count", &Capabilities::message_count},
      {"abandon", &Capabilities::abandon},
      {"renew lock", &Capabilities::renew_lock},
      {"dead letter", &Capabilities::dead_letter},
      {"clear", &Capabilities::clear},
      {"lock tokens", &Capabilities::lock_tokens},
  };
  return rows;
}

void Queue::unsupported(const std::string& capability) const { throw UnsupportedError(backend(), capability); }

void Queue::abandon(std::span<const Envelope>) { unsupported("abandon"); }
void Queue::renew_lock(std::span<const Envelope>, Duration) { unsupported("renew lock"); }
void Queue::move_to_dead_letter(std::span<const Envelope>) { unsupported("dead letter"); }
std::vector<Envelope> Queue::peek(std::size_t) { unsupported("peek"); }
std::uint64_t Queue::message_count() { unsupported("message count"); }
std::optional<std::uint64_t> Queue::clear() { unsupported("clear"); }

}  // namespace mq
