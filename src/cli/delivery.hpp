#pragma once
// Printing delivered messages so that none is lost: a message is completed
// only once its output is written, and on a pipe only once the reader has
// read it; what could not be printed goes back to the queue.

#include <atomic>
#include <cstddef>
#include <vector>

#include "cli/output.hpp"
#include "mq/queue.hpp"

namespace mq::cli {

class Delivery {
 public:
  enum class Settle {
    complete,     // receive, listen: remove each printed message
    keep_locked,  // receive --lock: printed messages stay locked for a later complete
    none,         // peek: nothing was taken
  };
  enum class Outcome { done, reader_gone, stopped };

  Delivery(Queue& queue, const Formatter& formatter, OutputWriter& writer, Settle settle);

  // Prints a batch. When `stop` becomes true, finishes the message in hand
  // and gives back the rest.
  Outcome deliver(std::vector<Envelope>& batch, const std::atomic<bool>* stop = nullptr);

  std::size_t delivered() const { return delivered_; }

 private:
  void give_back(std::span<const Envelope> messages);
  void settle(std::span<const Envelope> messages);
  Outcome deliver_to_stream(std::vector<Envelope>& batch, const std::atomic<bool>* stop);

  Queue& queue_;
  const Formatter& formatter_;
  OutputWriter& writer_;
  Settle settle_;
  std::size_t delivered_ = 0;
};

}  // namespace mq::cli
