#include "mqtt/paho_client.hpp"

#include <MQTTReasonCodes.h>
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "mq/envelope.hpp"
#include "mq/error.hpp"
#include "mq/narrate.hpp"

namespace mq::mqtt {

namespace {

// Paho writes a trace to stdout when MQTT_C_CLIENT_TRACE is set (a backend
// never prints; the variable is read when the first client is created), and
// Paho 1.3.11 tunnels MQTT through $http_proxy / $https_proxy when they are
// set, which are meant for HTTP: mosquitto_pub ignores them, so does mq.
void prepare_paho_once() {
  for (const char* name : {"MQTT_C_CLIENT_TRACE", "http_proxy", "https_proxy"})
    if (std::getenv(name)) unsetenv(name);
  static std::once_flag once;
  std::call_once(once, [] {
    // Paho also formats a record of every packet into an in-memory trace
    // buffer unless its trace level is above the protocol's: a third of its
    // work per message.
    MQTTAsync_setTraceCallback(nullptr);
    MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
  });
}

// Paho's two threads serve all clients. Destroying the last client stops
// them and waits in steps of 100 ms (MQTTAsync_stop), though they end within
// a few: a tenth of a second added to every command. A handle that never
// connects, kept while no client is open, leaves no client the last, and at
// exit the threads end with the process. Threads that outlived their clients
// are slow to start the next one, though: only a fresh receive thread polls
// with a short timeout, a running one takes up to a second to notice a new
// connection. So a client opened when none is open stops them first, as
// destroying the last client did.
class PahoThreads {
 public:
  void client_opening() {
    std::lock_guard lock(mutex_);
    if (open_clients_++ > 0) return;
    if (keeper_) MQTTAsync_destroy(&keeper_);
    MQTTAsync_create(&keeper_, "tcp://127.0.0.1:1", "mq-keeps-paho-threads", MQTTCLIENT_PERSISTENCE_NONE, nullptr);
  }
  void client_closed() {
    std::lock_guard lock(mutex_);
    --open_clients_;
  }

 private:
  std::mutex mutex_;
  int open_clients_ = 0;
  MQTTAsync keeper_ = nullptr;
};

PahoThreads& paho_threads() {
  static auto* threads = new PahoThreads;  // never destroyed: Paho's threads may outlive static destructors
  return *threads;
}

int whole_seconds(Duration d, int minimum) {
  auto seconds = static_cast<int>((d.count() + 999) / 1000);
  return seconds < minimum ? minimum : seconds;
}

// The outcome of one asynchronous Paho request, shared by the waiting
// thread and the callback (which may come after the waiter gave up).
struct Completion {
  std::mutex mutex;
  std::condition_variable done_changed;
  bool done = false;
  bool ok = false;
  int code = 0;
  int reason_code = 0;
  int granted_qos = 0;
  bool session_present = false;
  std::string message;

  void finish(bool success, int c, int reason, const char* text) {
    std::lock_guard lock(mutex);
    done = true;
    ok = success;
    code = c;
    reason_code = reason;
    if (text) message = text;
    done_changed.notify_all();
  }
  bool wait(Duration timeout) {
    std::unique_lock lock(mutex);
    return done_changed.wait_for(lock, timeout, [&] { return done; });
  }
};

// Paho may answer a request after its waiter gave up, and drops requests
// without answering when the connection goes meanwhile: a request's context
// is a Completion the client keeps until it is destroyed (after
// MQTTAsync_destroy nothing calls back).
std::shared_ptr<Completion> new_request(std::vector<std::shared_ptr<void>>& kept) {
  auto completion = std::make_shared<Completion>();
  kept.push_back(completion);
  return completion;
}

void on_success(void* context, MQTTAsync_successData* data) {
  auto* completion = static_cast<Completion*>(context);
  if (data) {
    std::lock_guard lock(completion->mutex);
    completion->granted_qos = data->alt.qos;
    completion->session_present = data->alt.connect.sessionPresent != 0;
  }
  completion->finish(true, 0, 0, nullptr);
}

void on_failure(void* context, MQTTAsync_failureData* data) {
  static_cast<Completion*>(context)->finish(false, data ? data->code : MQTTASYNC_FAILURE, 0,
                                            data ? data->message : nullptr);
}

void on_success5(void* context, MQTTAsync_successData5* data) {
  auto* completion = static_cast<Completion*>(context);
  if (data) {
    std::lock_guard lock(completion->mutex);
    completion->granted_qos = data->reasonCode;  // SUBACK's reason code is the granted QoS
    completion->session_present = data->alt.connect.sessionPresent != 0;
  }
  completion->finish(true, 0, data ? data->reasonCode : 0, nullptr);
}

void on_failure5(void* context, MQTTAsync_failureData5* data) {
  static_cast<Completion*>(context)->finish(false, data ? data->code : MQTTASYNC_FAILURE, data ? data->reasonCode : 0,
                                            data ? data->message : nullptr);
}

// Paho says "TCP/TLS connect failure"; a plain connect() says why.
std::string tcp_reason(const Endpoint& endpoint) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int error = getaddrinfo(endpoint.host.c_str(), std::to_string(endpoint.port).c_str(), &hints, &found);
  if (error) return gai_strerror(error);
  std::string reason;
  for (addrinfo* a = found; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 2000) == 1) {
        int so_error = 0;
        socklen_t length = sizeof so_error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
        rc = so_error ? -1 : 0;
        errno = so_error;
      } else {
        rc = -1;
        errno = ETIMEDOUT;
      }
    }
    int saved = errno;
    close(fd);
    if (rc == 0) {
      reason.clear();
      break;
    }
    reason = std::strerror(saved);
  }
  freeaddrinfo(found);
  return reason;
}

const char* connack_reason(int code) {
  switch (code) {
    case 1: return "unacceptable protocol version";
    case 2: return "client identifier rejected";
    case 3: return "server unavailable";
    case 4: return "bad user name or password";
    case 5: return "not authorized";
    default: return nullptr;
  }
}

}  // namespace

std::string random_client_id() { return "mq-" + generate_message_id().substr(0, 20); }

PahoClient::PahoClient(const Settings& settings, ClientOptions options)
    : settings_(settings), options_(std::move(options)) {
  prepare_paho_once();
  paho_threads().client_opening();
  uri_storage_ = options_.server_uris.empty() ? settings_.server_uris() : options_.server_uris;
  if (!options_.use_tls)
    for (auto& uri : uri_storage_)
      if (uri.rfind("ssl://", 0) == 0) uri = "tcp://" + uri.substr(6);
  for (auto& uri : uri_storage_) uri_pointers_.push_back(uri.data());

  MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
  create.MQTTVersion = settings_.protocol_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
  create.sendWhileDisconnected = 0;
  create.maxBufferedMessages = max_inflight;
  int rc = MQTTAsync_createWithOptions(&handle_, uri_storage_.front().c_str(), options_.client_id.c_str(),
                                       MQTTCLIENT_PERSISTENCE_NONE, nullptr, &create);
  if (rc != MQTTASYNC_SUCCESS) {
    paho_threads().client_closed();
    throw BrokerError(fmt::format("cannot create an MQTT client for {}: {}", settings_.where(), MQTTAsync_strerror(rc)));
  }
  MQTTAsync_setCallbacks(handle_, this, &PahoClient::connection_lost, &PahoClient::message_arrived, nullptr);
  MQTTAsync_setConnected(handle_, this, &PahoClient::connected);
}

PahoClient::~PahoClient() {
  if (is_connected()) disconnect(Duration{1000});
  MQTTAsync_destroy(&handle_);
  paho_threads().client_closed();
}

int PahoClient::message_arrived(void* context, char* topic, int topic_length, MQTTAsync_message* message) {
  auto* self = static_cast<PahoClient*>(context);
  std::string_view name(topic, topic_length > 0 ? static_cast<std::size_t>(topic_length) : std::strlen(topic));
  if (self->message_handler_) self->message_handler_(name, *message);
  MQTTAsync_freeMessage(&message);
  MQTTAsync_free(topic);
  return 1;
}

void PahoClient::connection_lost(void* context, char*) {
  auto* self = static_cast<PahoClient*>(context);
  narrate("mqtt: connection to {} lost", self->settings_.where());
  if (self->lost_handler_) self->lost_handler_();
}

void PahoClient::connected(void* context, char*) {
  auto* self = static_cast<PahoClient*>(context);
  if (self->connected_handler_) self->connected_handler_();
}

int PahoClient::tls_error(const char* text, std::size_t length, void* context) {
  auto* self = static_cast<PahoClient*>(context);
  std::lock_guard lock(self->tls_mutex_);
  std::string line(text, length);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  // "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:FILE:LINE:"
  std::vector<std::string> fields;
  for (std::size_t start = 0;;) {
    auto colon = line.find(':', start);
    fields.push_back(line.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  std::string reason = fields.size() > 4 && fields[0] == "error" ? fields[4] : line;
  if (!reason.empty() && self->tls_errors_.find(reason) == std::string::npos) {
    if (!self->tls_errors_.empty()) self->tls_errors_ += "; ";
    self->tls_errors_ += reason;
  }
  return 1;
}

std::string PahoClient::describe_failure(int code, const char* message, int reason_code) const {
  // MQTT 5: Paho reports CONNACK's reason code in one field or the other.
  if (settings_.protocol_version == 5 && reason_code < 0x80 && code >= 0x80) reason_code = code;
  if (settings_.protocol_version == 5 && reason_code >= 0x80) {
    std::string reason = MQTTReasonCode_toString(static_cast<MQTTReasonCodes>(reason_code));
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
    return fmt::format("connection refused: {}", reason);
  }
  if (const char* reason = connack_reason(code)) return fmt::format("connection refused: {}", reason);
  std::string where = settings_.where();
  // Which server failed is not reported; probe the first for the system's reason.
  std::string tcp = tcp_reason(settings_.endpoints.front());
  if (!tcp.empty()) return fmt::format("cannot connect to {}: {}", where, tcp);
  {
    std::lock_guard lock(const_cast<std::mutex&>(tls_mutex_));
    if (!tls_errors_.empty()) return fmt::format("TLS with {} failed: {}", where, tls_errors_);
  }
  std::string why = message && *message ? message : MQTTAsync_strerror(code);
  if (code == MQTTASYNC_FAILURE && settings_.tls && options_.use_tls)
    why += " (TLS handshake failed: check --cafile, --cert, --key)";
  return fmt::format("cannot connect to {}: {}", where, why);
}

bool PahoClient::connect(Duration timeout) {
  bool v5 = settings_.protocol_version == 5;
  MQTTAsync_connectOptions options = MQTTAsync_connectOptions_initializer;
  MQTTAsync_connectOptions options5 = MQTTAsync_connectOptions_initializer5;
  if (v5) options = options5;
  options.keepAliveInterval = settings_.keepalive.count() == 0 ? 0 : whole_seconds(settings_.keepalive, 1);
  if (v5) options.cleanstart = options_.clean_session ? 1 : 0;
  else options.cleansession = options_.clean_session ? 1 : 0;
  options.MQTTVersion = v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
  options.connectTimeout = whole_seconds(timeout, 1);
  options.maxInflight = max_inflight;
  options.retryInterval = 0;
  options.username = settings_.username ? settings_.username->c_str() : nullptr;
  options.password = settings_.password ? settings_.password->c_str() : nullptr;
  if (uri_pointers_.size() > 1) {
    options.serverURIs = uri_pointers_.data();
    options.serverURIcount = static_cast<int>(uri_pointers_.size());
  }
  options.automaticReconnect = options_.automatic_reconnect ? 1 : 0;
  options.minRetryInterval = whole_seconds(settings_.reconnect_timeout, 1);
  options.maxRetryInterval = std::max(options.minRetryInterval, 30);

  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
  if (settings_.tls && options_.use_tls) {
    ssl.trustStore = settings_.cafile ? settings_.cafile->c_str() : nullptr;
    ssl.keyStore = settings_.cert ? settings_.cert->c_str() : nullptr;
    ssl.privateKey = settings_.key ? settings_.key->c_str() : nullptr;
    ssl.enableServerCertAuth = settings_.insecure ? 0 : 1;
    ssl.verify = settings_.insecure ? 0 : 1;
    ssl.ssl_error_cb = &PahoClient::tls_error;
    ssl.ssl_error_context = this;
    options.ssl = &ssl;
    std::lock_guard lock(tls_mutex_);
    tls_errors_.clear();
  }

  // A persistent MQTT 5 session must outlive the connection, as in 3.1.1.
  MQTTProperties properties = MQTTProperties_initializer;
  if (v5 && !options_.clean_session) {
    MQTTProperty expiry{};
    expiry.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
    expiry.value.integer4 = 0xFFFFFFFF;
    MQTTProperties_add(&properties, &expiry);
    options.connectProperties = &properties;
  }

  // Paho may report a failed connect more than once (the attempt, then its
  // timeout): the callbacks below take the first answer only.
  auto completion = new_request(requests_);
  options.context = completion.get();
  if (v5) {
    options.onSuccess5 = [](void* context, MQTTAsync_successData5* data) {
      auto* c = static_cast<Completion*>(context);
      {
        std::lock_guard lock(c->mutex);
        if (c->done) return;
        c->session_present = data && data->alt.connect.sessionPresent != 0;
      }
      c->finish(true, 0, 0, nullptr);
    };
    options.onFailure5 = [](void* context, MQTTAsync_failureData5* data) {
      auto* c = static_cast<Completion*>(context);
      {
        std::lock_guard lock(c->mutex);
        if (c->done) return;
      }
      c->finish(false, data ? data->code : MQTTASYNC_FAILURE, data ? data->reasonCode : 0, data ? data->message : nullptr);
    };
  } else {
    options.onSuccess = [](void* context, MQTTAsync_successData* data) {
      auto* c = static_cast<Completion*>(context);
      {
        std::lock_guard lock(c->mutex);
        if (c->done) return;
        c->session_present = data && data->alt.connect.sessionPresent != 0;
      }
      c->finish(true, 0, 0, nullptr);
    };
    options.onFailure = [](void* context, MQTTAsync_failureData* data) {
      auto* c = static_cast<Completion*>(context);
      {
        std::lock_guard lock(c->mutex);
        if (c->done) return;
      }
      c->finish(false, data ? data->code : MQTTASYNC_FAILURE, 0, data ? data->message : nullptr);
    };
  }
  if (narrating()) {
    // Through a relay, the relay dials the broker, TLS included: name the broker.
    std::string servers = fmt::format("{}", fmt::join(settings_.server_uris(), ", "));
    if (!options_.server_uris.empty()) servers += fmt::format(" through the relay at {}", fmt::join(uri_storage_, ", "));
    std::string tls;
    if (settings_.tls)
      tls = fmt::format(", TLS (CA file {}, client certificate {}{})", settings_.cafile.value_or("system"),
                        settings_.cert.value_or("none"), settings_.insecure ? ", not verifying the broker" : "");
    narrate("mqtt: connecting to {} as client id {} (MQTT {}, {} session{}{}, timeout {} ms)", servers,
            options_.client_id, v5 ? "5" : "3.1.1", options_.clean_session ? "clean" : "persistent",
            settings_.username ? ", user " + *settings_.username : "", tls, timeout.count());
  }
  Stopwatch connecting;
  int rc = MQTTAsync_connect(handle_, &options);
  MQTTProperties_free(&properties);
  if (rc != MQTTASYNC_SUCCESS) throw BrokerError(describe_failure(rc, nullptr, 0));
  // Paho gives up after connectTimeout per server; allow for each of them.
  auto allowance = timeout * static_cast<int>(uri_storage_.size()) + Duration{2000};
  if (!completion->wait(allowance))
    throw BrokerError(fmt::format("cannot connect to {}: no answer within {} ms", settings_.where(), timeout.count()),
                      true);
  std::lock_guard lock(completion->mutex);
  if (!completion->ok) {
    narrate("mqtt: connecting failed after {}", connecting.text());
    throw BrokerError(describe_failure(completion->code, completion->message.c_str(), completion->reason_code));
  }
  narrate("mqtt: connected in {} (session present: {})", connecting.text(), completion->session_present ? "yes" : "no");
  return completion->session_present;
}

void PahoClient::subscribe(const std::string& filter, int qos, Duration timeout) {
  Stopwatch subscribing;
  auto completion = new_request(requests_);
  MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
  options.context = completion.get();
  if (version() == 5) {
    options.onSuccess5 = on_success5;
    options.onFailure5 = on_failure5;
  } else {
    options.onSuccess = on_success;
    options.onFailure = on_failure;
  }
  int rc = MQTTAsync_subscribe(handle_, filter.c_str(), qos, &options);
  if (rc != MQTTASYNC_SUCCESS) {
    throw BrokerError(fmt::format("cannot subscribe to \"{}\": {}", filter, MQTTAsync_strerror(rc)));
  }
  if (!completion->wait(timeout))
    throw BrokerError(fmt::format("subscription to \"{}\": no answer from {} within {} ms", filter, settings_.where(),
                                  timeout.count()),
                      true);
  std::lock_guard lock(completion->mutex);
  bool refused = !completion->ok || (version() != 5 && completion->granted_qos == MQTT_BAD_SUBSCRIBE) ||
                 (version() == 5 && completion->reason_code >= 0x80);
  if (refused) {
    std::string why = version() == 5 && completion->reason_code >= 0x80
                          ? MQTTReasonCode_toString(static_cast<MQTTReasonCodes>(completion->reason_code))
                          : "refused by the broker";
    throw BrokerError(fmt::format("subscription to \"{}\": {}", filter, why));
  }
  narrate("mqtt: subscribed to \"{}\" at QoS {} in {}", filter, qos, subscribing.text());
}

void PahoClient::subscribe_async(const std::string& filter, int qos) {
  MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
  MQTTAsync_subscribe(handle_, filter.c_str(), qos, &options);
}

void PahoClient::disconnect(Duration timeout) {
  auto completion = new_request(requests_);
  MQTTAsync_disconnectOptions options = MQTTAsync_disconnectOptions_initializer;
  options.timeout = static_cast<int>(timeout.count());
  options.context = completion.get();
  if (version() == 5) {
    options.onSuccess5 = on_success5;
    options.onFailure5 = on_failure5;
  } else {
    options.onSuccess = on_success;
    options.onFailure = on_failure;
  }
  Stopwatch disconnecting;
  if (MQTTAsync_disconnect(handle_, &options) != MQTTASYNC_SUCCESS) return;
  completion->wait(timeout + Duration{1000});
  narrate("mqtt: disconnected in {}", disconnecting.text());
}

}  // namespace mq::mqtt
