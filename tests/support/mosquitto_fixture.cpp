#include "mosquitto_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace mqtest {

namespace fs = std::filesystem;

namespace {

bool port_accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return ok;
}

void must(const Result& result, const std::string& what) {
  if (result.exit_code != 0) throw std::runtime_error(what + " failed: " + result.err + result.out);
}

}  // namespace

std::string uri_encode_topic(const std::string& topic) {
  std::string out;
  for (char c : topic) {
    if (c == '#') out += "%23";
    else if (c == '%') out += "%25";
    else if (c == '?') out += "%3F";
    else out += c;
  }
  return out;
}

Mosquitto::Mosquitto(MosquittoOptions options) : options_(std::move(options)) {
  if (!options_.users.empty()) {
    auto password_file = (dir() / "passwords").string();
    write_file(password_file, "");
    for (const auto& [user, password] : options_.users)
      must(run({"mosquitto_passwd", "-b", password_file, user, password}), "mosquitto_passwd");
  }
  if (options_.tls) make_certificates();
  // A port that was free a moment ago may be taken by a parallel test by the
  // time mosquitto binds it: try a few.
  for (int attempt = 0;; ++attempt) {
    port_ = free_port();
    if (options_.tls) tls_port_ = free_port();
    try {
      start();
      return;
    } catch (const std::exception&) {
      if (attempt == 4) throw;
    }
  }
}

Mosquitto::~Mosquitto() {
  if (process_ && process_->running()) stop(SIGKILL);
}

std::string Mosquitto::uri(const std::string& topic) const {
  return "mqtt://127.0.0.1:" + std::to_string(port_) + "/" + uri_encode_topic(topic);
}

std::string Mosquitto::tls_uri(const std::string& topic) const {
  return "mqtts://localhost:" + std::to_string(tls_port_) + "/" + uri_encode_topic(topic);
}

mq::ConfigParams Mosquitto::config(const std::string& topic) const {
  return mq::parse_queue_uri("mqtt://127.0.0.1:" + std::to_string(port_) + "/" + uri_encode_topic(topic));
}

mq::ConfigParams Mosquitto::tls_config(const std::string& topic) const {
  auto params = mq::parse_queue_uri(tls_uri(topic));
  params.set("options.cafile", ca_file());
  return params;
}

std::string Mosquitto::ca_file() const { return (dir() / "ca.crt").string(); }
std::string Mosquitto::client_cert() const { return (dir() / "client.crt").string(); }
std::string Mosquitto::client_key() const { return (dir() / "client.key").string(); }
std::string Mosquitto::other_ca_file() const { return (dir() / "other-ca.crt").string(); }

void Mosquitto::make_certificates() {
  auto path = [&](const char* name) { return (dir() / name).string(); };
  auto new_ca = [&](const char* key, const char* cert, const char* name) {
    must(run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", path(key), "-out", path(cert), "-days", "2", "-subj", std::string("/CN=") + name}),
         "openssl (CA)");
  };
  auto new_signed = [&](const char* key, const char* cert, const char* name, const std::string& extensions) {
    auto request = path("request.csr");
    must(run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
              path(key), "-out", request, "-subj", std::string("/CN=") + name}),
         "openssl (key)");
    auto extension_file = path("extensions.cnf");
    write_file(extension_file, extensions + "\n");
    must(run({"openssl", "x509", "-req", "-in", request, "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
              "-CAcreateserial", "-out", path(cert), "-days", "2", "-extfile", extension_file}),
         "openssl (sign)");
  };
  new_ca("ca.key", "ca.crt", "mqtest-ca");
  new_ca("other-ca.key", "other-ca.crt", "mqtest-other-ca");
  new_signed("server.key", "server.crt", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1");
  new_signed("client.key", "client.crt", "mqtest-client", "extendedKeyUsage=clientAuth");
}

void Mosquitto::write_config() {
  std::string text;
  if (geteuid() == 0) text += "user root\n";  // else it drops to "mosquitto", who cannot read our files
  text += "per_listener_settings false\n";
  text += "log_dest file " + (dir() / "mosquitto.log").string() + "\n";
  text += "log_type all\n";
  // Queues for offline persistent sessions hold what the tests send.
  text += "max_queued_messages 0\nmax_queued_bytes 0\n";
  if (options_.persistence) {
    text += "persistence true\npersistence_location " + dir().string() + "/\n";
    text += options_.save_every_change ? "autosave_on_changes true\nautosave_interval 1\n" : "autosave_interval 1800\n";
  } else {
    text += "persistence false\n";
  }
  if (options_.users.empty()) {
    text += "allow_anonymous true\n";
  } else {
    text += "allow_anonymous false\npassword_file " + (dir() / "passwords").string() + "\n";
  }
  text += "listener " + std::to_string(port_) + " 127.0.0.1\n";
  if (options_.tls) {
    text += "listener " + std::to_string(tls_port_) + " 127.0.0.1\n";
    text += "cafile " + ca_file() + "\n";
    text += "certfile " + (dir() / "server.crt").string() + "\n";
    text += "keyfile " + (dir() / "server.key").string() + "\n";
    if (options_.require_client_certificate) text += "require_certificate true\n";
  }
  text += options_.extra_config + "\n";
  write_file(dir() / "mosquitto.conf", text);
}

void Mosquitto::start() {
  write_config();
  process_.reset();
  process_.emplace(std::vector<std::string>{"mosquitto", "-c", (dir() / "mosquitto.conf").string()}, Env{}, dir(),
                   "mosquitto-" + std::to_string(generation_++));
  wait_until_listening();
}

void Mosquitto::wait_until_listening() {
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running()) throw std::runtime_error("mosquitto exited at start: " + log());
    if (port_accepts(port_) && (!options_.tls || port_accepts(tls_port_))) return;
    std::this_thread::sleep_for(5ms);
  }
  throw std::runtime_error("mosquitto did not listen within 15 s: " + log());
}

void Mosquitto::stop(int sig) {
  if (!process_) return;
  process_->signal(sig);
  process_->signal(SIGCONT);
  if (!process_->wait(20s)) {
    process_->signal(SIGKILL);
    process_->wait(10s);
  }
}

void Mosquitto::freeze() {
  if (process_) process_->signal(SIGSTOP);
}

bool Mosquitto::running() { return process_ && process_->running(); }

std::string Mosquitto::log() const { return read_file(dir() / "mosquitto.log"); }

Result mosquitto_pub(const Mosquitto& broker, const std::vector<std::string>& args, const std::string& input) {
  std::vector<std::string> argv{"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker.port())};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input);
}

Result mosquitto_sub(const Mosquitto& broker, const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker.port())};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {}, {}, timeout);
}

}  // namespace mqtest
