#include "mqtt/ack_gate.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <MQTTAsync.h>  // MQTTReasonCodes.h, declared extern "C" there

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "mq/error.hpp"

namespace mq::mqtt {

namespace {

constexpr unsigned char type_connack = 2, type_publish = 3, type_puback = 4, type_pubrec = 5, type_pubrel = 6,
                        type_pubcomp = 7, type_pingreq = 12, type_pingresp = 13;
constexpr std::size_t max_buffered = 4 << 20;  // stop reading a side whose output is this far behind

// Splits a byte stream into MQTT control packets (fixed header: a type byte
// and a 1..4 byte remaining length).
class FrameReader {
 public:
  void feed(const char* data, std::size_t size) { buffer_.append(data, size); }
  // The next complete packet, or false. Throws on a malformed length.
  bool next(std::string& frame) {
    if (buffer_.size() - offset_ < 2) return compact(false);
    std::size_t length = 0, multiplier = 1, position = offset_ + 1;
    for (int i = 0;; ++i) {
      if (position >= buffer_.size()) return compact(false);
      auto byte = static_cast<unsigned char>(buffer_[position++]);
      length += (byte & 0x7F) * multiplier;
      if (!(byte & 0x80)) break;
      if (i == 3) throw std::runtime_error("malformed MQTT packet length");
      multiplier *= 128;
    }
    if (buffer_.size() - position < length) return compact(false);
    frame.assign(buffer_, offset_, position - offset_ + length);
    offset_ = position + length;
    return true;
  }
  void clear() {
    buffer_.clear();
    offset_ = 0;
  }

 private:
  bool compact(bool result) {
    if (offset_ > 0) {
      buffer_.erase(0, offset_);
      offset_ = 0;
    }
    return result;
  }
  std::string buffer_;
  std::size_t offset_ = 0;
};

// Offset of the variable header: after the type byte and the length bytes.
std::size_t header_size(const std::string& frame) {
  std::size_t i = 1;
  while (i < frame.size() && (static_cast<unsigned char>(frame[i]) & 0x80)) ++i;
  return i + 1;
}

int packet_id_at(const std::string& frame, std::size_t offset) {
  if (offset + 2 > frame.size()) return -1;
  return (static_cast<unsigned char>(frame[offset]) << 8) | static_cast<unsigned char>(frame[offset + 1]);
}

// Reads the fields of a packet, front to back; throws on a short one.
class FieldReader {
 public:
  FieldReader(const std::string& frame, std::size_t offset) : frame_(frame), position_(offset) {}
  std::size_t left() const { return frame_.size() - position_; }
  unsigned byte() {
    need(1);
    return static_cast<unsigned char>(frame_[position_++]);
  }
  unsigned two_bytes() {
    unsigned high = byte();
    return high << 8 | byte();
  }
  std::string_view bytes(std::size_t count) {
    need(count);
    std::string_view out(frame_.data() + position_, count);
    position_ += count;
    return out;
  }
  std::string_view string() { return bytes(two_bytes()); }
  std::size_t variable_int() {
    std::size_t value = 0;
    for (int shift = 0; shift < 28; shift += 7) {
      unsigned b = byte();
      value |= static_cast<std::size_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return value;
    }
    throw std::runtime_error("malformed MQTT variable integer");
  }
  std::string_view rest() { return bytes(left()); }

 private:
  void need(std::size_t count) const {
    if (left() < count) throw std::runtime_error("malformed MQTT packet from the broker");
  }
  const std::string& frame_;
  std::size_t position_;
};

// MQTT 5 properties (of a PUBLISH or a CONNACK): keeps the user properties
// and the receive maximum, skips the others by the size their identifier
// gives them (MQTT 5, 2.2.2.2).
void read_properties(FieldReader& fields, std::vector<Header>* user_properties, std::size_t* receive_maximum) {
  std::size_t length = fields.variable_int();
  if (length > fields.left()) throw std::runtime_error("malformed MQTT properties");
  std::size_t end = fields.left() - length;
  while (fields.left() > end) {
    switch (unsigned id = fields.byte()) {
      case 0x26: {
        auto name = fields.string();
        auto value = fields.string();
        if (user_properties) user_properties->push_back({std::string(name), std::string(value)});
        break;
      }
      case 0x21: {
        unsigned most = fields.two_bytes();
        if (receive_maximum && most > 0) *receive_maximum = most;
        break;
      }
      case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A: fields.bytes(1); break;
      case 0x13: case 0x22: case 0x23: fields.bytes(2); break;
      case 0x02: case 0x11: case 0x18: case 0x27: fields.bytes(4); break;
      case 0x0B: fields.variable_int(); break;
      case 0x03: case 0x08: case 0x09: case 0x12: case 0x15: case 0x16: case 0x1A: case 0x1C: case 0x1F:
        fields.string();  // UTF-8 strings and binary data: both a two-byte length first
        break;
      default: throw std::runtime_error(fmt::format("unknown MQTT property 0x{:02x}", id));
    }
  }
}

void append_variable_int(std::string& out, std::size_t value) {
  do {
    auto byte = static_cast<unsigned char>(value % 128);
    value /= 128;
    if (value) byte |= 0x80;
    out += static_cast<char>(byte);
  } while (value);
}

void append_string(std::string& out, std::string_view text) {
  out += static_cast<char>(text.size() >> 8);
  out += static_cast<char>(text.size() & 0xFF);
  out += text;
}

std::string ack_frame(unsigned char type, int packet_id) {
  return {static_cast<char>(type << 4 | (type == type_pubrel ? 2 : 0)), 2, static_cast<char>(packet_id >> 8),
          static_cast<char>(packet_id & 0xFF)};
}

constexpr std::string_view pingresp_frame{"\xD0\0", 2};  // type 13, nothing after the length

// OpenSSL is already in the process (Paho's libpaho-mqtt3as needs it); the
// few functions the gate calls are looked up there at run time, so linking
// mq needs nothing beyond Paho. Falls back to loading libssl.so.3 itself.
struct OpenSsl {
#define MQ_OPENSSL_FUNCTIONS(X)                                                                                \
  X(SSL_free) X(SSL_CTX_free) X(SSL_read) X(SSL_get_error) X(SSL_write) X(SSL_shutdown) X(SSL_CTX_new)         \
  X(TLS_client_method) X(SSL_CTX_load_verify_locations) X(SSL_CTX_set_default_verify_paths)                    \
  X(SSL_CTX_use_certificate_chain_file) X(SSL_CTX_use_PrivateKey_file) X(SSL_CTX_set_verify) X(SSL_CTX_ctrl)   \
  X(SSL_new) X(SSL_set_fd) X(SSL_ctrl) X(SSL_get0_param) X(X509_VERIFY_PARAM_set1_ip_asc)                      \
  X(X509_VERIFY_PARAM_set1_host) X(SSL_connect) X(SSL_get_verify_result) X(X509_verify_cert_error_string)      \
  X(ERR_get_error) X(ERR_reason_error_string) X(ERR_clear_error)
#define MQ_OPENSSL_POINTER(name) decltype(&::name) name = nullptr;
  MQ_OPENSSL_FUNCTIONS(MQ_OPENSSL_POINTER)
#undef MQ_OPENSSL_POINTER
  bool complete = false;

  OpenSsl() {
    void* libraries[] = {RTLD_DEFAULT, dlopen("libssl.so.3", RTLD_NOW | RTLD_GLOBAL),
                         dlopen("libcrypto.so.3", RTLD_NOW | RTLD_GLOBAL)};
    auto find = [&](const char* name) -> void* {
      for (void* library : libraries)
        if (library)
          if (void* symbol = dlsym(library, name)) return symbol;
      return nullptr;
    };
    complete = true;
#define MQ_OPENSSL_LOOKUP(name)                                     \
  name = reinterpret_cast<decltype(name)>(find(#name));             \
  if (!name) complete = false;
    MQ_OPENSSL_FUNCTIONS(MQ_OPENSSL_LOOKUP)
#undef MQ_OPENSSL_LOOKUP
  }
};

const OpenSsl& tls() {
  static const OpenSsl functions;
  if (!functions.complete) throw std::runtime_error("TLS is not available: libssl.so.3 was not found");
  return functions;
}

std::string openssl_errors() {
  std::string out;
  while (unsigned long code = tls().ERR_get_error()) {
    const char* reason = tls().ERR_reason_error_string(code);
    if (!reason) continue;
    if (out.find(reason) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += reason;
  }
  return out;
}

bool is_ip_address(const std::string& host) {
  in6_addr v6;
  in_addr v4;
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

// A connection to the broker, plain or TLS, non-blocking once established.
class Upstream {
 public:
  ~Upstream() {
    if (ssl_) tls().SSL_free(ssl_);
    if (context_) tls().SSL_CTX_free(context_);
    if (fd_ >= 0) close(fd_);
  }

  // Dials the endpoints in order; on failure throws std::runtime_error with the reason.
  void open(const Settings& settings) {
    std::string reason;
    for (const auto& endpoint : settings.endpoints) {
      try {
        dial(endpoint, settings.connect_timeout);
        if (settings.tls) handshake(settings, endpoint);
        set_blocking(false);
        return;
      } catch (const std::runtime_error& error) {
        reason = settings.endpoints.size() > 1 ? fmt::format("{}: {}", endpoint.text(), error.what()) : error.what();
        if (ssl_) tls().SSL_free(ssl_), ssl_ = nullptr;
        if (fd_ >= 0) close(fd_), fd_ = -1;
      }
    }
    throw std::runtime_error(reason);
  }

  int fd() const { return fd_; }
  bool wants_write() const { return want_write_; }

  // Reads what is there; returns false at end of stream or error.
  bool read_into(FrameReader& reader) {
    char buffer[65536];
    while (true) {
      if (ssl_) {
        int n = tls().SSL_read(ssl_, buffer, sizeof buffer);
        if (n > 0) {
          reader.feed(buffer, static_cast<std::size_t>(n));
          continue;
        }
        int error = tls().SSL_get_error(ssl_, n);
        if (error == SSL_ERROR_WANT_READ) return true;
        if (error == SSL_ERROR_WANT_WRITE) {
          want_write_ = true;
          return true;
        }
        return false;
      }
      ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) {
        reader.feed(buffer, static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < sizeof buffer) return true;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
      return false;
    }
  }

  // Writes as much of `out` as the socket takes; false on error.
  bool write_from(std::string& out) {
    want_write_ = false;
    while (!out.empty()) {
      if (ssl_) {
        int n = tls().SSL_write(ssl_, out.data(), static_cast<int>(std::min<std::size_t>(out.size(), 1 << 20)));
        if (n > 0) {
          out.erase(0, static_cast<std::size_t>(n));
          continue;
        }
        int error = tls().SSL_get_error(ssl_, n);
        if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
          want_write_ = true;
          return true;
        }
        return false;
      }
      ssize_t n = ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        out.erase(0, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        want_write_ = true;
        return true;
      }
      return false;
    }
    return true;
  }

  // At the end: what is left goes out, then a FIN, then whatever the broker
  // still says is read and dropped. Closing with unread input would reset the
  // connection and could discard acknowledgements not yet transmitted.
  void close_gracefully(std::string& out) {
    for (int i = 0; i < 50 && !out.empty(); ++i) {
      if (!write_from(out)) break;
      if (!out.empty()) {
        pollfd p{fd_, POLLOUT, 0};
        poll(&p, 1, 20);
      }
    }
    if (ssl_) tls().SSL_shutdown(ssl_);
    shutdown(fd_, SHUT_WR);
    char buffer[4096];
    for (int i = 0; i < 20; ++i) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 25) != 1) continue;
      ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
    }
  }

 private:
  void dial(const Endpoint& endpoint, Duration timeout) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int error = getaddrinfo(endpoint.host.c_str(), std::to_string(endpoint.port).c_str(), &hints, &found))
      throw std::runtime_error(gai_strerror(error));
    std::string reason = "no address";
    for (addrinfo* a = found; a; a = a->ai_next) {
      fd_ = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd_ < 0) continue;
      int rc = ::connect(fd_, a->ai_addr, a->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        pollfd p{fd_, POLLOUT, 0};
        if (poll(&p, 1, static_cast<int>(std::max<long long>(timeout.count(), 1))) == 1) {
          int so_error = 0;
          socklen_t length = sizeof so_error;
          getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so_error, &length);
          rc = so_error ? -1 : 0;
          errno = so_error;
        } else {
          rc = -1;
          errno = ETIMEDOUT;
        }
      }
      if (rc == 0) {
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        freeaddrinfo(found);
        return;
      }
      reason = std::strerror(errno);
      close(fd_);
      fd_ = -1;
    }
    freeaddrinfo(found);
    throw std::runtime_error(reason);
  }

  void set_blocking(bool blocking) {
    int flags = fcntl(fd_, F_GETFL);
    fcntl(fd_, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
  }

  void handshake(const Settings& settings, const Endpoint& endpoint) {
    tls().ERR_clear_error();
    if (!context_) {
      context_ = tls().SSL_CTX_new(tls().TLS_client_method());
      if (!context_) throw std::runtime_error("cannot set up TLS: " + openssl_errors());
      if (settings.cafile) {
        if (tls().SSL_CTX_load_verify_locations(context_, settings.cafile->c_str(), nullptr) != 1)
          throw std::runtime_error(fmt::format("cannot read CA file {}: {}", *settings.cafile, openssl_errors()));
      } else {
        tls().SSL_CTX_set_default_verify_paths(context_);
      }
      if (settings.cert) {
        if (tls().SSL_CTX_use_certificate_chain_file(context_, settings.cert->c_str()) != 1)
          throw std::runtime_error(fmt::format("cannot read certificate {}: {}", *settings.cert, openssl_errors()));
        const std::string& key = settings.key ? *settings.key : *settings.cert;
        if (tls().SSL_CTX_use_PrivateKey_file(context_, key.c_str(), SSL_FILETYPE_PEM) != 1)
          throw std::runtime_error(fmt::format("cannot read private key {}: {}", key, openssl_errors()));
      }
      tls().SSL_CTX_set_verify(context_, settings.insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
      tls().SSL_CTX_ctrl(context_, SSL_CTRL_MODE, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, nullptr);
    }
    ssl_ = tls().SSL_new(context_);
    tls().SSL_set_fd(ssl_, fd_);
    if (!is_ip_address(endpoint.host)) tls().SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(endpoint.host.c_str()));
    if (!settings.insecure) {
      X509_VERIFY_PARAM* param = tls().SSL_get0_param(ssl_);
      if (is_ip_address(endpoint.host)) tls().X509_VERIFY_PARAM_set1_ip_asc(param, endpoint.host.c_str());
      else tls().X509_VERIFY_PARAM_set1_host(param, endpoint.host.c_str(), 0);
    }
    set_blocking(true);
    timeval limit{static_cast<time_t>(settings.connect_timeout.count() / 1000),
                  static_cast<suseconds_t>(settings.connect_timeout.count() % 1000 * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (tls().SSL_connect(ssl_) != 1) {
      long verify = tls().SSL_get_verify_result(ssl_);
      std::string reason = verify != X509_V_OK
                               ? fmt::format("certificate verify failed ({})", tls().X509_verify_cert_error_string(verify))
                               : openssl_errors();
      throw std::runtime_error("TLS handshake failed: " + (reason.empty() ? std::string("connection closed") : reason));
    }
    timeval none{0, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
  }

  int fd_ = -1;
  SSL_CTX* context_ = nullptr;
  SSL* ssl_ = nullptr;
  bool want_write_ = false;
};

// True when the other end of an accepted loopback connection is a socket of
// this very process (Paho's), so no other local program can ride the gate.
bool peer_is_this_process(int accepted) {
  sockaddr_in peer{}, local{};
  socklen_t length = sizeof peer;
  if (getpeername(accepted, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return false;
  length = sizeof local;
  if (getsockname(accepted, reinterpret_cast<sockaddr*>(&local), &length) != 0) return false;
  DIR* fds = opendir("/proc/self/fd");
  if (!fds) return true;  // no /proc: cannot tell, trust the loopback
  bool found = false;
  while (dirent* entry = readdir(fds)) {
    int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == accepted || fd == dirfd(fds)) continue;
    sockaddr_in mine{}, theirs{};
    socklen_t mine_length = sizeof mine, theirs_length = sizeof theirs;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&mine), &mine_length) != 0 || mine.sin_family != AF_INET) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&theirs), &theirs_length) != 0) continue;
    if (mine.sin_port == peer.sin_port && mine.sin_addr.s_addr == peer.sin_addr.s_addr &&
        theirs.sin_port == local.sin_port) {
      found = true;
      break;
    }
  }
  closedir(fds);
  return found;
}

}  // namespace

// A message published through the gate that is not acknowledged yet.
struct Pending {
  std::uint64_t order = 0;  // sent again in the order first sent
  std::string frame;        // the PUBLISH packet, packet id included
  int qos = 0;
  int packet_id = 0;
  bool released = false;  // QoS 2: PUBREC came and PUBREL went out
  std::uint64_t written_at = 0;  // QoS 0: where its frame ends in the stream to the broker
};

constexpr std::uint64_t not_queued = ~std::uint64_t{0};

struct AckGate::State {
  const Settings& settings;
  ArrivalHandler deliver;
  int listen_fd = -1;
  int wake_fd = -1;
  int port = 0;
  std::thread thread;

  std::mutex mutex;  // guards everything below
  bool stopping = false;
  std::uint64_t connection = 0;
  std::string upstream_error;
  int down_fd = -1;
  std::unique_ptr<Upstream> up;
  FrameReader from_paho;
  std::string to_broker, to_paho;
  std::set<int> qos2;  // packet ids the broker sent at QoS 2
  bool paho_awaits_pingresp = false;
  bool polling = false, woken = false;

  // Publishing.
  std::condition_variable sending_changed;
  bool ready = false;    // the broker accepted this connection
  bool refused = false;  // the broker refused this connection
  bool lost = false;     // the connection dropped since the broker last accepted one
  std::size_t receive_maximum = 65535;
  std::map<int, Pending> unacknowledged;  // QoS 1 and 2, by packet id
  std::deque<Pending> unwritten;          // QoS 0, until its frame is in the socket
  int last_packet_id = 0;
  std::uint64_t next_order = 0;
  std::uint64_t queued_bytes = 0, written_bytes = 0;  // to the broker, over all connections
  Tally counts;
  bool settled = false;

  State(const Settings& s, ArrivalHandler handler) : settings(s), deliver(std::move(handler)) {}

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = write(wake_fd, &one, sizeof one);
  }
  void wake_if_polling() {
    if (!polling || woken) return;
    woken = true;
    wake();
  }

  std::size_t in_flight() const { return unacknowledged.size() + unwritten.size(); }

  void queue_for_broker(std::string_view bytes) {
    to_broker += bytes;
    queued_bytes += bytes.size();
  }

  bool write_to_broker() {
    std::size_t before = to_broker.size();
    bool ok = up->write_from(to_broker);
    written_bytes += before - to_broker.size();
    while (!unwritten.empty() && unwritten.front().written_at <= written_bytes) {
      unwritten.pop_front();
      ++counts.acknowledged;
      settled = true;
    }
    return ok;
  }

  // The acknowledgement the broker expects for a released message.
  std::string released_ack(int packet_id) {
    if (qos2.erase(packet_id)) return ack_frame(type_pubrec, packet_id);
    return ack_frame(type_puback, packet_id);
  }

  void drop_connection() {
    if (up) {
      up->close_gracefully(to_broker);
      up.reset();
    }
    if (down_fd >= 0) close(down_fd), down_fd = -1;
    to_broker.clear();
    to_paho.clear();
    from_paho.clear();
    qos2.clear();
    paho_awaits_pingresp = false;
    ready = false;
    lost = true;
    for (auto& message : unwritten) message.written_at = not_queued;
    sending_changed.notify_all();
  }

  // The broker accepted a new connection: what it did not acknowledge on the
  // last one goes out again, in the order first sent, ahead of new messages.
  void send_again() {
    std::vector<Pending*> again;
    for (auto& [id, message] : unacknowledged) again.push_back(&message);
    for (auto& message : unwritten) again.push_back(&message);
    std::sort(again.begin(), again.end(), [](auto* a, auto* b) { return a->order < b->order; });
    for (Pending* message : again) {
      if (message->released) {
        queue_for_broker(ack_frame(type_pubrel, message->packet_id));
        continue;
      }
      if (message->qos > 0) message->frame[0] = static_cast<char>(message->frame[0] | 0x08);  // DUP
      queue_for_broker(message->frame);
      if (message->qos == 0) message->written_at = queued_bytes;
    }
  }

  void accept_one(FrameReader& from_broker) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (!peer_is_this_process(fd)) {
      close(fd);
      return;
    }
    std::unique_lock lock(mutex);
    drop_connection();
    from_broker.clear();
    ++connection;
    refused = false;
    lock.unlock();
    // Dialing blocks this thread only: nothing else is relayed meanwhile.
    auto upstream = std::make_unique<Upstream>();
    std::string error;
    try {
      upstream->open(settings);
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
    lock.lock();
    upstream_error = error;
    if (!error.empty()) {
      close(fd);  // Paho sees the connection fail and reports it
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    down_fd = fd;
    up = std::move(upstream);
  }

  void refuse(Pending& message, unsigned reason) {
    ++counts.refused;
    counts.refusal = MQTTReasonCode_toString(static_cast<MQTTReasonCodes>(reason));
    unacknowledged.erase(message.packet_id);
    settled = true;
  }

  // PUBACK, PUBREC or PUBCOMP: false when it is not for a message of the gate's.
  bool acknowledgement(unsigned type, const std::string& frame) {
    FieldReader fields(frame, header_size(frame));
    int id = static_cast<int>(fields.two_bytes());
    unsigned reason = fields.left() > 0 ? fields.byte() : 0;  // MQTT 5
    auto found = unacknowledged.find(id);
    if (found == unacknowledged.end()) return false;
    Pending& message = found->second;
    if (reason >= 0x80 && type != type_pubcomp) {
      refuse(message, reason);
    } else if (type == type_pubrec && message.qos == 2) {
      message.released = true;
      queue_for_broker(ack_frame(type_pubrel, id));
    } else if ((type == type_puback && message.qos == 1) || (type == type_pubcomp && message.released)) {
      ++counts.acknowledged;
      unacknowledged.erase(found);
      settled = true;
    }
    return true;
  }

  void connection_accepted(const std::string& frame) {
    FieldReader fields(frame, header_size(frame));
    fields.byte();  // session present
    if (fields.byte() != 0) {
      refused = true;  // Paho reports why; the broker then closes
      return;
    }
    receive_maximum = 65535;
    if (settings.protocol_version == 5 && fields.left() > 0) read_properties(fields, nullptr, &receive_maximum);
    ready = true;
    lost = false;
    send_again();
    settled = true;
  }

  // Packets from the broker: a PUBLISH is decoded and delivered here, PUBREL
  // answered here, acknowledgements of the gate's messages counted here; the
  // rest goes to Paho.
  void from_broker_packet(const std::string& frame) {
    auto first = static_cast<unsigned char>(frame[0]);
    auto type = first >> 4;
    // Paho's PINGREQ reaches the broker only after every PUBLISH written
    // before it, and Paho drops a connection whose PINGRESP takes longer than
    // the keep-alive: over a slow link, a full window takes longer than that.
    // Any packet from the broker shows the connection alive, so it answers
    // Paho's ping; the broker's own PINGRESP then has nobody waiting for it.
    if (paho_awaits_pingresp) {
      to_paho += pingresp_frame;
      paho_awaits_pingresp = false;
    }
    if (type == type_pingresp) return;
    if (type == type_publish) {
      if (!deliver) return;
      FieldReader fields(frame, header_size(frame));
      Arrival arrival;
      arrival.qos = (first >> 1) & 3;
      arrival.retained = (first & 1) != 0;
      arrival.topic = fields.string();
      if (arrival.qos > 0) {
        int id = static_cast<int>(fields.two_bytes());
        if (arrival.qos == 2) qos2.insert(id);
        arrival.receipt = connection << 16 | static_cast<std::uint64_t>(id);
      }
      if (settings.protocol_version == 5) read_properties(fields, &arrival.user_properties, nullptr);
      arrival.payload = fields.rest();
      deliver(arrival);
      return;
    }
    if (type == type_pubrel) {
      queue_for_broker(ack_frame(type_pubcomp, packet_id_at(frame, header_size(frame))));
      return;
    }
    if ((type == type_puback || type == type_pubrec || type == type_pubcomp) && acknowledgement(type, frame)) return;
    if (type == type_connack) connection_accepted(frame);
    to_paho += frame;
  }

  void run() {
    FrameReader from_broker;
    std::string frame;
    while (true) {
      pollfd fds[4];
      int count = 0;
      int down_index = -1, up_index = -1;
      {
        std::lock_guard lock(mutex);
        if (stopping) break;
        fds[count++] = {listen_fd, POLLIN, 0};
        fds[count++] = {wake_fd, POLLIN, 0};
        if (down_fd >= 0) {
          short events = to_broker.size() < max_buffered ? POLLIN : 0;
          if (!to_paho.empty()) events |= POLLOUT;
          down_index = count;
          fds[count++] = {down_fd, events, 0};
        }
        if (up) {
          short events = to_paho.size() < max_buffered ? POLLIN : 0;
          if (!to_broker.empty() || up->wants_write()) events |= POLLOUT;
          up_index = count;
          fds[count++] = {up->fd(), events, 0};
        }
        polling = true;
      }
      if (poll(fds, static_cast<nfds_t>(count), -1) < 0 && errno != EINTR) break;
      {
        std::lock_guard lock(mutex);
        polling = woken = false;
      }
      if (fds[1].revents) {
        std::uint64_t value;
        [[maybe_unused]] auto n = read(wake_fd, &value, sizeof value);
      }
      if (fds[0].revents & POLLIN) {
        accept_one(from_broker);
        continue;
      }
      std::lock_guard lock(mutex);
      bool broken = false;
      try {
        if (down_index >= 0 && down_fd >= 0 && (fds[down_index].revents & (POLLIN | POLLHUP | POLLERR))) {
          char buffer[65536];
          ssize_t n = recv(down_fd, buffer, sizeof buffer, 0);
          if (n > 0) {
            // Whole packets only: the gate's own go into the same stream.
            from_paho.feed(buffer, static_cast<std::size_t>(n));
            while (from_paho.next(frame)) {
              if (static_cast<unsigned char>(frame[0]) >> 4 == type_pingreq) paho_awaits_pingresp = true;
              queue_for_broker(frame);
            }
          } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            broken = true;  // Paho closed: pass on what it said, then close the broker side
          }
        }
        if (!broken && up_index >= 0 && up && (fds[up_index].revents & (POLLIN | POLLHUP | POLLERR))) {
          if (!up->read_into(from_broker)) {
            if (!refused) upstream_error = "connection closed by the broker";
            broken = true;
          }
          while (from_broker.next(frame)) from_broker_packet(frame);
        }
      } catch (const std::runtime_error& error) {
        upstream_error = error.what();
        broken = true;
      }
      if (up && !to_broker.empty() && !write_to_broker()) broken = true;
      if (down_fd >= 0 && !to_paho.empty()) {
        ssize_t n = ::send(down_fd, to_paho.data(), to_paho.size(), MSG_NOSIGNAL);
        if (n > 0) to_paho.erase(0, static_cast<std::size_t>(n));
        else if (n < 0 && errno != EAGAIN && errno != EINTR) broken = true;
      }
      if (broken) drop_connection();
      // The publisher goes on at every acknowledgement. Waiting for more (in
      // bursts) would leave the connection quiet meanwhile, and the broker's
      // further acknowledgements would then sit behind Nagle's algorithm until
      // our delayed ACK: 40 ms a window (mosquitto leaves TCP_NODELAY off).
      if (settled) {
        settled = false;
        sending_changed.notify_all();
      }
    }
    std::lock_guard lock(mutex);
    drop_connection();
  }
};

// A PUBLISH packet with room for its packet id at the returned offset (QoS 1 and 2).
std::size_t encode_publish(std::string& frame, const Settings& settings, std::string_view payload, int qos,
                           bool retain, std::span<const Header> user_properties) {
  std::string properties;
  if (settings.protocol_version == 5) {
    std::string list;
    for (const auto& header : user_properties) {
      list += '\x26';
      append_string(list, header.name);
      append_string(list, header.value);
    }
    append_variable_int(properties, list.size());
    properties += list;
  }
  const std::string& topic = settings.topic;
  std::size_t remaining = 2 + topic.size() + (qos > 0 ? 2 : 0) + properties.size() + payload.size();
  if (remaining > 268'435'455)
    throw BrokerError(fmt::format("a message of {} bytes is over MQTT's limit of 256 MiB a packet", payload.size()));
  frame.clear();
  frame.reserve(remaining + 5);
  frame += static_cast<char>(type_publish << 4 | qos << 1 | (retain ? 1 : 0));
  append_variable_int(frame, remaining);
  append_string(frame, topic);
  std::size_t id_offset = frame.size();
  if (qos > 0) frame.append(2, '\0');
  frame += properties;
  frame += payload;
  return id_offset;
}

AckGate::AckGate(const Settings& settings, ArrivalHandler handler)
    : state_(std::make_unique<State>(settings, std::move(handler))) {
  state_->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (state_->listen_fd < 0 || bind(state_->listen_fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(state_->listen_fd, 4) != 0 ||
      getsockname(state_->listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::string why = std::strerror(errno);
    if (state_->listen_fd >= 0) close(state_->listen_fd);
    throw BrokerError("cannot set up the acknowledgement relay: " + why);
  }
  state_->port = ntohs(address.sin_port);
  state_->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  state_->thread = std::thread([state = state_.get()] { state->run(); });
}

AckGate::~AckGate() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->sending_changed.notify_all();
  state_->wake();
  state_->thread.join();
  close(state_->listen_fd);
  close(state_->wake_fd);
}

std::string AckGate::uri() const { return fmt::format("tcp://127.0.0.1:{}", state_->port); }

void AckGate::release(std::span<const std::uint64_t> receipts) {
  {
    std::lock_guard lock(state_->mutex);
    for (auto receipt : receipts) {
      if ((receipt >> 16) != state_->connection || !state_->up) continue;
      state_->to_broker += state_->released_ack(static_cast<int>(receipt & 0xFFFF));
    }
  }
  state_->wake();
}

std::string AckGate::upstream_error() {
  std::lock_guard lock(state_->mutex);
  return state_->upstream_error;
}

bool AckGate::publish(std::string_view payload, int qos, bool retain, std::span<const Header> user_properties,
                      std::size_t window) {
  State& gate = *state_;
  Pending message;
  message.qos = qos;
  std::size_t id_offset = encode_publish(message.frame, gate.settings, payload, qos, retain, user_properties);
  std::unique_lock lock(gate.mutex);
  gate.sending_changed.wait(lock, [&] {
    return gate.stopping || gate.lost ||
           (gate.ready && gate.in_flight() < std::min(window, gate.receive_maximum) &&
            gate.to_broker.size() < max_buffered);
  });
  if (!gate.ready) return false;
  message.order = gate.next_order++;
  if (qos > 0) {
    do gate.last_packet_id = gate.last_packet_id % 65535 + 1;
    while (gate.unacknowledged.count(gate.last_packet_id));
    message.packet_id = gate.last_packet_id;
    message.frame[id_offset] = static_cast<char>(message.packet_id >> 8);
    message.frame[id_offset + 1] = static_cast<char>(message.packet_id & 0xFF);
  }
  gate.queue_for_broker(message.frame);
  if (qos == 0) {
    message.written_at = gate.queued_bytes;
    gate.unwritten.push_back(std::move(message));
  } else {
    gate.unacknowledged.emplace(message.packet_id, std::move(message));
  }
  // The gate's thread writes what piled up meanwhile when it wakes.
  gate.wake_if_polling();
  return true;
}

bool AckGate::drain() {
  State& gate = *state_;
  std::unique_lock lock(gate.mutex);
  gate.sending_changed.wait(lock, [&] { return gate.stopping || gate.lost || gate.in_flight() == 0; });
  return gate.in_flight() == 0;
}

AckGate::Tally AckGate::tally() {
  std::lock_guard lock(state_->mutex);
  Tally tally = state_->counts;
  tally.unacknowledged = state_->in_flight();
  return tally;
}

}  // namespace mq::mqtt
