#include "slow_link.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace mqtest {

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  return address;
}

bool send_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    data += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return true;
}

}  // namespace

SlowLink::SlowLink(int target_port, std::size_t upload_bytes_per_second)
    : target_port_(target_port), rate_(upload_bytes_per_second) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto address = loopback(0);
  socklen_t length = sizeof address;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(listen_fd_, 8) != 0 || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw std::runtime_error("slow link: cannot listen on loopback");
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

SlowLink::~SlowLink() {
  stopping_ = true;
  // shutdown() wakes the threads blocked in accept, recv and send.
  shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  std::lock_guard lock(mutex_);
  for (int fd : sockets_) shutdown(fd, SHUT_RDWR);
  for (auto& pump : pumps_) pump.join();
  for (int fd : sockets_) close(fd);
  close(listen_fd_);
}

void SlowLink::accept_loop() {
  while (!stopping_) {
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto address = loopback(target_port_);
    std::lock_guard lock(mutex_);
    sockets_.push_back(client);
    sockets_.push_back(server);
    if (stopping_ || connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      shutdown(client, SHUT_RDWR);
      continue;
    }
    pumps_.emplace_back([this, client, server] { pump(client, server, rate_); });
    pumps_.emplace_back([this, client, server] { pump(server, client, 0); });
  }
}

// Copies `from` to `to` until either side closes; a rate of 0 is unlimited.
void SlowLink::pump(int from, int to, std::size_t bytes_per_second) {
  char buffer[4096];
  while (!stopping_) {
    ssize_t n = recv(from, buffer, sizeof buffer, 0);
    if (n <= 0 || !send_all(to, buffer, static_cast<std::size_t>(n))) break;
    if (bytes_per_second)
      std::this_thread::sleep_for(std::chrono::microseconds(n * 1'000'000 / static_cast<ssize_t>(bytes_per_second)));
  }
  shutdown(from, SHUT_RDWR);
  shutdown(to, SHUT_RDWR);
}

}  // namespace mqtest
