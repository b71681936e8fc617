#pragma once
// A real mosquitto for one test: its own directory, a free loopback port,
// optionally persistence, a password file and a TLS listener with a CA and
// certificates made with openssl. Stopped (and its files removed) at the end.

#include <csignal>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mq/config.hpp"
#include "process.hpp"

namespace mqtest {

struct MosquittoOptions {
  bool persistence = false;
  // Save the database after every change, so that even SIGKILL loses
  // nothing the broker acknowledged.
  bool save_every_change = false;
  // Users for a password file (mosquitto_passwd -b); anonymous access is
  // refused when there is any.
  std::vector<std::pair<std::string, std::string>> users;
  // A second listener speaking TLS with a server certificate for localhost
  // and 127.0.0.1, signed by a CA made for this broker.
  bool tls = false;
  bool require_client_certificate = false;
  // Appended to the generated configuration.
  std::string extra_config;
};

class Mosquitto {
 public:
  explicit Mosquitto(MosquittoOptions options = {});
  ~Mosquitto();
  Mosquitto(const Mosquitto&) = delete;
  Mosquitto& operator=(const Mosquitto&) = delete;

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  // mqtt://127.0.0.1:PORT/TOPIC (TOPIC percent-encoded: '#' is %23)
  std::string uri(const std::string& topic) const;
  // mqtts://localhost:TLS_PORT/TOPIC
  std::string tls_uri(const std::string& topic) const;
  // Keys for the library: backend, topic, connection.*.
  mq::ConfigParams config(const std::string& topic) const;
  mq::ConfigParams tls_config(const std::string& topic) const;

  std::string ca_file() const;
  std::string client_cert() const;
  std::string client_key() const;
  // A CA that signed nothing this broker shows.
  std::string other_ca_file() const;
  const std::filesystem::path& dir() const { return dir_.path(); }

  // Stops the broker with `sig` (SIGTERM saves a persistent database), frozen
  // or not.
  void stop(int sig = SIGTERM);
  // Stops it in its tracks (SIGSTOP): its connections stay open and whatever
  // clients send waits there unanswered until it is stopped.
  void freeze();
  // Starts it again on the same ports with the same files.
  void start();
  void restart(int sig = SIGTERM) {
    stop(sig);
    start();
  }
  bool running();
  std::string log() const;

 private:
  void write_config();
  void make_certificates();
  void wait_until_listening();

  MosquittoOptions options_;
  TempDir dir_;
  int port_ = 0;
  int tls_port_ = 0;
  std::optional<Process> process_;
  int generation_ = 0;
};

// mosquitto_pub / mosquitto_sub against the fixture's plain listener.
Result mosquitto_pub(const Mosquitto& broker, const std::vector<std::string>& args, const std::string& input = {});
Result mosquitto_sub(const Mosquitto& broker, const std::vector<std::string>& args,
                     std::chrono::milliseconds timeout = 30s);

// "a/#" -> "a/%23", for URIs.
std::string uri_encode_topic(const std::string& topic);

}  // namespace mqtest
