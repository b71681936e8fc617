#pragma once
// A slow uplink for the tests: a TCP relay on a free loopback port to
// 127.0.0.1:<target> that passes what the client sends on at a limited rate,
// and the answers at full speed, as from a client behind a slow connection.

#include <atomic>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace mqtest {

class SlowLink {
 public:
  SlowLink(int target_port, std::size_t upload_bytes_per_second);
  ~SlowLink();
  SlowLink(const SlowLink&) = delete;
  SlowLink& operator=(const SlowLink&) = delete;

  int port() const { return port_; }

 private:
  void accept_loop();
  void pump(int from, int to, std::size_t bytes_per_second);

  int target_port_;
  std::size_t rate_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;  // guards sockets_ and pumps_
  std::vector<int> sockets_;
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace mqtest
