#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "mq/config.hpp"
#include "mq/error.hpp"
#include "process.hpp"

using namespace mq;
using namespace std::chrono_literals;

namespace {

EnvLookup environment(std::map<std::string, std::string> values) {
  return [values](const char* name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

constexpr const char* sample_config = R"({
  "default": "jobs",
  "queues": {
    "jobs":    { "uri": "memory://jobs" },
    "orders":  { "backend": "kafka", "topic": "orders", "group_id": "billing",
                 "connection": { "host": "localhost", "port": 9092 },
                 "options": { "acks": -1 } },
    "sensors": { "uri": "mqtt://broker.local:1883/sensors/%23",
                 "credential": { "username": "mq", "password": "from-file" },
                 "options": { "qos": 1 } },
    "short":   "mqtt://other:1884/a/b"
  }
})";

struct ConfigDir {
  mqtest::TempDir dir;
  std::string path = (dir.path() / "config.json").string();
  explicit ConfigDir(const std::string& text = sample_config) { mqtest::write_file(path, text); }
};

ResolvedConfig resolve(std::optional<std::string> queue, const std::string& config_path,
                       std::map<std::string, std::string> env = {}, ConfigParams flags = {}) {
  ResolveRequest request;
  request.queue = std::move(queue);
  request.config_path = config_path;
  request.flags = std::move(flags);
  request.env = environment(std::move(env));
  return resolve_config(request);
}

}  // namespace

TEST_CASE("durations take units and a bare number is seconds") {
  REQUIRE(parse_duration("500ms") == 500ms);
  REQUIRE(parse_duration("5s") == 5000ms);
  REQUIRE(parse_duration("5") == 5000ms);
  REQUIRE(parse_duration("0") == 0ms);
  REQUIRE(parse_duration("1.5s") == 1500ms);
  REQUIRE(parse_duration("2m") == 120000ms);
  REQUIRE(parse_duration("1h") == 3600000ms);
  REQUIRE_THROWS_AS(parse_duration("soon"), ConfigError);
  REQUIRE_THROWS_AS(parse_duration("5 parsecs"), ConfigError);
  REQUIRE_THROWS_AS(parse_duration("-1s"), ConfigError);
}

TEST_CASE("typed reads of configuration keys name the key on bad values") {
  ConfigParams params{{"options.qos", "1"}, {"options.retain", "yes"}, {"bad", "x"}};
  REQUIRE(params.get_int("options.qos") == 1);
  REQUIRE(params.get_int("missing", 7) == 7);
  REQUIRE(params.get_bool("options.retain", false));
  REQUIRE(params.get_millis("options.qos", 0ms) == 1ms);
  REQUIRE_THROWS_WITH(params.get_int("bad"), Catch::Contains("bad"));
  REQUIRE_THROWS_AS(params.get_bool("bad", true), ConfigError);
}

TEST_CASE("memory URIs name the queue") {
  auto params = parse_queue_uri("memory://jobs");
  REQUIRE(params.get("backend") == "memory");
  REQUIRE(params.get("topic") == "jobs");
}

TEST_CASE("MQTT URIs: user, host, port, topic with an encoded wildcard, query keys") {
  auto params = parse_queue_uri("mqtt://mq@broker.local:1884/sensors/%23?qos=1&retain=false&options.keepalive_timeout=5000");
  REQUIRE(params.get("backend") == "mqtt");
  REQUIRE(params.get("connection.protocol") == "mqtt");
  REQUIRE(params.get("credential.username") == "mq");
  REQUIRE(params.get("connection.host") == "broker.local");
  REQUIRE(params.get("connection.port") == "1884");
  REQUIRE(params.get("topic") == "sensors/#");
  REQUIRE(params.get("options.qos") == "1");
  REQUIRE(params.get("options.retain") == "false");
  REQUIRE(params.get("options.keepalive_timeout") == "5000");

  auto tls = parse_queue_uri("mqtts://[::1]/a/+/c");
  REQUIRE(tls.get("backend") == "mqtt");
  REQUIRE(tls.get("connection.protocol") == "mqtts");
  REQUIRE(tls.get("connection.host") == "::1");
  REQUIRE_FALSE(tls.get("connection.port"));
  REQUIRE(tls.get("topic") == "a/+/c");
}

TEST_CASE("Kafka URIs take several brokers and a group") {
  auto params = parse_queue_uri("kafka://k1:9092,k2:9093,k3/orders?group_id=billing&from_beginning=true");
  REQUIRE(params.get("backend") == "kafka");
  REQUIRE(params.get("connection.host") == "k1");
  REQUIRE(params.get("connection.port") == "9092");
  REQUIRE(params.get("connection.hosts") == "k1:9092,k2:9093,k3");
  REQUIRE(params.get("topic") == "orders");
  REQUIRE(params.get("group_id") == "billing");
  REQUIRE(params.get("from_beginning") == "true");
}

TEST_CASE("malformed URIs are configuration errors") {
  REQUIRE_THROWS_AS(parse_queue_uri("amqp://host/q"), ConfigError);
  REQUIRE_THROWS_AS(parse_queue_uri("mqtt://host:99999/t"), ConfigError);
  REQUIRE_THROWS_AS(parse_queue_uri("mqtt://host:abc/t"), ConfigError);
  REQUIRE_THROWS_AS(parse_queue_uri("kafka://,/t"), ConfigError);
  REQUIRE_THROWS_AS(parse_queue_uri("mqtt://[::1/t"), ConfigError);
}

TEST_CASE("the config file's entries flatten to dotted keys") {
  ConfigDir config;
  auto file = load_config_file(config.path);
  REQUIRE(file.default_queue == "jobs");
  REQUIRE(file.queues.size() == 4);
  REQUIRE(file.queues["orders"].get("connection.port") == "9092");
  REQUIRE(file.queues["orders"].get("options.acks") == "-1");
  REQUIRE(file.queues["short"].get("uri") == "mqtt://other:1884/a/b");
}

TEST_CASE("broken config files are configuration errors") {
  REQUIRE_THROWS_AS(load_config_file("/nonexistent/mq.json"), ConfigError);
  ConfigDir not_json("{ nope");
  REQUIRE_THROWS_AS(load_config_file(not_json.path), ConfigError);
  ConfigDir bad_default(R"({"default":"missing","queues":{}})");
  REQUIRE_THROWS_WITH(load_config_file(bad_default.path), Catch::Contains("missing"));
}

TEST_CASE("with nothing chosen the queue is memory://default") {
  ResolveRequest request;
  request.env = environment({{"HOME", "/nonexistent"}});
  auto none = resolve_config(request);
  REQUIRE(none.params.get("backend") == "memory");
  REQUIRE(none.params.get("topic") == "default");
  REQUIRE_FALSE(none.config_file);
}

TEST_CASE("a --config file that cannot be read is a configuration error") {
  REQUIRE_THROWS_AS(resolve(std::nullopt, "/nonexistent/config.json"), ConfigError);
}

TEST_CASE("the config file is --config, else MQ_CONFIG, else XDG_CONFIG_HOME, else ~/.config") {
  ConfigDir config;
  auto xdg = config.dir.path() / "xdg";
  std::filesystem::create_directories(xdg / "mq");
  mqtest::write_file(xdg / "mq" / "config.json", sample_config);
  REQUIRE(find_config_file(std::string("/x.json"), environment({{"MQ_CONFIG", config.path}})) == "/x.json");
  REQUIRE(find_config_file(std::nullopt, environment({{"MQ_CONFIG", config.path}})) == config.path);
  REQUIRE(find_config_file(std::nullopt, environment({{"XDG_CONFIG_HOME", xdg.string()}})) ==
          (xdg / "mq" / "config.json").string());
  auto home = config.dir.path() / "home";
  std::filesystem::create_directories(home / ".config" / "mq");
  mqtest::write_file(home / ".config" / "mq" / "config.json", "{}");
  REQUIRE(find_config_file(std::nullopt, environment({{"HOME", home.string()}})) ==
          (home / ".config" / "mq" / "config.json").string());
  REQUIRE_FALSE(find_config_file(std::nullopt, environment({{"HOME", "/nonexistent"}})));
}

TEST_CASE("precedence: defaults < config entry < environment < -q URI < flags") {
  ConfigDir config;

  SECTION("the file's default entry") {
    auto r = resolve(std::nullopt, config.path);
    REQUIRE(r.params.get("backend") == "memory");
    REQUIRE(r.params.get("topic") == "jobs");
    REQUIRE(r.config_file == config.path);
    REQUIRE(r.display_name == "jobs");
  }
  SECTION("-q NAME picks an entry; its URI is refined by its other keys") {
    auto r = resolve("sensors", config.path);
    REQUIRE(r.params.get("backend") == "mqtt");
    REQUIRE(r.params.get("topic") == "sensors/#");
    REQUIRE(r.params.get("connection.host") == "broker.local");
    REQUIRE(r.params.get("options.qos") == "1");
    REQUIRE(r.params.get("credential.password") == "from-file");
  }
  SECTION("MQ_QUEUE names an entry when -q is absent") {
    auto r = resolve(std::nullopt, config.path, {{"MQ_QUEUE", "orders"}});
    REQUIRE(r.params.get("backend") == "kafka");
    REQUIRE(r.params.get("group_id") == "billing");
  }
  SECTION("MQ_QUEUE as a URI beats the file's default") {
    auto r = resolve(std::nullopt, config.path, {{"MQ_QUEUE", "memory://from-env"}});
    REQUIRE(r.params.get("topic") == "from-env");
  }
  SECTION("-q beats MQ_QUEUE") {
    auto r = resolve("memory://from-flag", config.path, {{"MQ_QUEUE", "orders"}});
    REQUIRE(r.params.get("backend") == "memory");
    REQUIRE(r.params.get("topic") == "from-flag");
    REQUIRE_FALSE(r.params.get("group_id"));
  }
  SECTION("MQ_PASSWORD beats the config file's password") {
    auto r = resolve("sensors", config.path, {{"MQ_PASSWORD", "from-env"}});
    REQUIRE(r.params.get("credential.password") == "from-env");
  }
  SECTION("flags and --set beat everything") {
    ConfigParams flags{{"topic", "flagged"}, {"options.qos", "2"}, {"credential.password", "from-flag"}};
    auto r = resolve("sensors", config.path, {{"MQ_PASSWORD", "from-env"}}, flags);
    REQUIRE(r.params.get("topic") == "flagged");
    REQUIRE(r.params.get("options.qos") == "2");
    REQUIRE(r.params.get("credential.password") == "from-flag");
  }
  SECTION("a name that is no entry is a topic on the default queue") {
    auto r = resolve("other", config.path);
    REQUIRE(r.params.get("backend") == "memory");
    REQUIRE(r.params.get("topic") == "other");
  }
  SECTION("a string entry is a URI") {
    auto r = resolve("short", config.path);
    REQUIRE(r.params.get("connection.port") == "1884");
    REQUIRE(r.params.get("topic") == "a/b");
  }
}

TEST_CASE("a password file is read, and a warning names a file others can read") {
  ConfigDir config;
  auto password_file = config.dir.path() / "pass";
  mqtest::write_file(password_file, "s3cret\n");

  chmod(password_file.c_str(), 0600);
  auto quiet = resolve("sensors", config.path, {}, ConfigParams{{"credential.password_file", password_file.string()}});
  REQUIRE(quiet.params.get("credential.password") == "s3cret");
  REQUIRE(quiet.warnings.empty());

  chmod(password_file.c_str(), 0644);
  auto loud = resolve("sensors", config.path, {}, ConfigParams{{"credential.password_file", password_file.string()}});
  REQUIRE(loud.warnings.size() == 1);
  REQUIRE_THAT(loud.warnings[0], Catch::Contains(password_file.string()));
  REQUIRE_THAT(loud.warnings[0], !Catch::Contains("s3cret"));

  SECTION("MQ_PASSWORD beats a password file named in the config file") {
    ConfigDir with_file(R"({"queues":{"q":{"uri":"mqtt://h/t","credential":{"password_file":")" +
                        password_file.string() + R"("}}}})");
    auto r = resolve("q", with_file.path, {{"MQ_PASSWORD", "env"}});
    REQUIRE(r.params.get("credential.password") == "env");
  }
  SECTION("a missing password file is a configuration error") {
    REQUIRE_THROWS_AS(resolve("sensors", config.path, {}, ConfigParams{{"credential.password_file", "/nonexistent"}}),
                      ConfigError);
  }
}

TEST_CASE("secrets are masked") {
  ConfigParams params{{"credential.password", "p"}, {"kafka.sasl.password", "q"}, {"credential.username", "u"},
                      {"credential.password_file", "/f"}};
  auto shown = masked(params);
  REQUIRE(shown.get("credential.password") == "*****");
  REQUIRE(shown.get("kafka.sasl.password") == "*****");
  REQUIRE(shown.get("credential.username") == "u");
  REQUIRE(shown.get("credential.password_file") == "/f");
}
