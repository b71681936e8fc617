// Choosing the queue through the binary: URIs, the config file, environment,
// flags, their precedence, and secrets never shown.

#include <sys/stat.h>

#include "cli_support.hpp"

using namespace mqtest;
using namespace clitest;

namespace {

nlohmann::json info(const Sandbox& sandbox, std::vector<std::string> args, const Env& env = {}) {
  args.push_back("info");
  args.push_back("--json");
  auto result = sandbox.mq(args, {}, env);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  return nlohmann::json::parse(result.out);
}

std::string topic(const Sandbox& sandbox, std::vector<std::string> args, const Env& env = {}) {
  return info(sandbox, std::move(args), env).at("configuration").at("topic").get<std::string>();
}

// The sandbox's default config file location ($XDG_CONFIG_HOME/mq/config.json).
std::filesystem::path write_default_config(const Sandbox& sandbox, const std::string& json) {
  auto dir = sandbox.dir.path() / "config" / "mq";
  std::filesystem::create_directories(dir);
  write_file(dir / "config.json", json);
  return dir / "config.json";
}

const char* sample_config = R"({
  "default": "jobs",
  "queues": {
    "jobs":   { "uri": "memory://jobs-topic" },
    "orders": { "backend": "memory", "topic": "orders-topic", "options": { "retry_connect": false } },
    "secret": { "uri": "memory://secret-topic", "credential": { "username": "u", "password": "s3cret-in-file" } }
  }
})";

}  // namespace

TEST_CASE("with no queue chosen the queue is memory://default") {
  Sandbox sandbox;
  auto document = info(sandbox, {});
  REQUIRE(document.at("backend") == "memory");
  REQUIRE(document.at("configuration").at("topic") == "default");
  REQUIRE(document.at("config_file").is_null());
}

TEST_CASE("a -q URI chooses the queue and its query parameters become keys") {
  Sandbox sandbox;
  auto document = info(sandbox, {"-q", "memory://from-uri?max_retries=7"});
  REQUIRE(document.at("configuration").at("topic") == "from-uri");
  REQUIRE(document.at("configuration").at("options.max_retries") == "7");

  require_ok(sandbox.mq({"-q", "memory://from-uri", "send", "x"}));
  REQUIRE(sandbox.mq({"-t", "from-uri", "count"}).out == "1\n");
}

TEST_CASE("a -q NAME reads the config file entry and its default entry applies without -q") {
  Sandbox sandbox;
  auto path = write_default_config(sandbox, sample_config);
  REQUIRE(topic(sandbox, {}) == "jobs-topic");
  REQUIRE(topic(sandbox, {"-q", "orders"}) == "orders-topic");
  REQUIRE(info(sandbox, {"-q", "orders"}).at("configuration").at("options.retry_connect") == "false");
  REQUIRE(info(sandbox, {}).at("config_file") == path.string());

  require_ok(sandbox.mq({"-q", "orders", "send", "o"}));
  REQUIRE(sandbox.mq({"-q", "memory://orders-topic", "count"}).out == "1\n");

  auto path_result = sandbox.mq({"config", "path"});
  require_ok(path_result);
  REQUIRE(path_result.out == path.string() + "\n");
}

TEST_CASE("MQ_CONFIG and --config name the file with --config winning") {
  Sandbox sandbox;
  auto first = sandbox.dir.path() / "first.json";
  auto second = sandbox.dir.path() / "second.json";
  write_file(first, R"({"default":"q","queues":{"q":"memory://first-topic"}})");
  write_file(second, R"({"default":"q","queues":{"q":"memory://second-topic"}})");
  REQUIRE(topic(sandbox, {}, {{"MQ_CONFIG", first.string()}}) == "first-topic");
  REQUIRE(topic(sandbox, {"--config", second.string()}, {{"MQ_CONFIG", first.string()}}) == "second-topic");
  REQUIRE(sandbox.mq({"config", "path"}, {}, {{"MQ_CONFIG", first.string()}}).out == first.string() + "\n");
}

TEST_CASE("MQ_QUEUE holds a URI or a name") {
  Sandbox sandbox;
  write_default_config(sandbox, sample_config);
  REQUIRE(topic(sandbox, {}, {{"MQ_QUEUE", "orders"}}) == "orders-topic");
  REQUIRE(topic(sandbox, {}, {{"MQ_QUEUE", "memory://env-topic"}}) == "env-topic");
}

TEST_CASE("precedence: config entry < MQ_QUEUE < -q URI < flags < --set") {
  Sandbox sandbox;
  write_default_config(sandbox, sample_config);
  Env env{{"MQ_QUEUE", "memory://env-topic"}};
  REQUIRE(topic(sandbox, {}) == "jobs-topic");
  REQUIRE(topic(sandbox, {}, env) == "env-topic");
  REQUIRE(topic(sandbox, {"-q", "memory://uri-topic"}, env) == "uri-topic");
  REQUIRE(topic(sandbox, {"-q", "memory://uri-topic", "--topic", "flag-topic"}, env) == "flag-topic");
  REQUIRE(topic(sandbox, {"-q", "orders", "--set", "topic=set-topic"}, env) == "set-topic");
  // Flags given after the command name count the same.
  auto after = sandbox.mq({"info", "--json", "-q", "memory://uri-topic", "-t", "late-flag"}, {}, env);
  REQUIRE(nlohmann::json::parse(after.out).at("configuration").at("topic") == "late-flag");
}

TEST_CASE("flags map to configuration keys and durations become milliseconds") {
  Sandbox sandbox;
  auto configuration = info(sandbox, {"--host", "h.example", "--port", "1999", "--username", "ann", "--group", "g1",
                                      "--qos", "2", "--client-id", "cid", "--connect-timeout", "5s", "--set",
                                      "kafka.acks=all"})
                           .at("configuration");
  CHECK(configuration.at("connection.host") == "h.example");
  CHECK(configuration.at("connection.port") == "1999");
  CHECK(configuration.at("credential.username") == "ann");
  CHECK(configuration.at("group_id") == "g1");
  CHECK(configuration.at("options.qos") == "2");
  CHECK(configuration.at("options.client_id") == "cid");
  CHECK(configuration.at("options.connect_timeout") == "5000");
  CHECK(configuration.at("kafka.acks") == "all");
}

TEST_CASE("a password file readable by others draws a warning but a private one does not") {
  Sandbox sandbox;
  auto password_file = sandbox.dir.path() / "password";
  write_file(password_file, "pa55word-from-file\n");

  ::chmod(password_file.c_str(), 0644);
  auto loose = sandbox.mq({"--password-file", password_file.string(), "info"});
  require_ok(loose);
  REQUIRE(loose.err.find("mq: warning: ") == 0);
  REQUIRE(loose.err.find("password") != std::string::npos);
  REQUIRE(loose.out.find("pa55word-from-file") == std::string::npos);

  ::chmod(password_file.c_str(), 0600);
  auto tight = sandbox.mq({"--password-file", password_file.string(), "info"});
  require_ok(tight);
  REQUIRE(tight.err.empty());
  REQUIRE(tight.out.find("pa55word-from-file") == std::string::npos);
}

TEST_CASE("no password is ever printed by info or config or --verbose") {
  Sandbox sandbox;
  write_default_config(sandbox, sample_config);
  const std::vector<std::string> secrets = {"s3cret-in-file", "s3cret-in-env", "s3cret-in-set", "s3cret-in-uri"};
  auto check = [&](const Result& result) {
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    for (const auto& secret : secrets) {
      CHECK(result.out.find(secret) == std::string::npos);
      CHECK(result.err.find(secret) == std::string::npos);
    }
  };
  Env env{{"MQ_PASSWORD", "s3cret-in-env"}};
  check(sandbox.mq({"-q", "secret", "info"}));
  check(sandbox.mq({"-q", "secret", "info", "--json"}));
  check(sandbox.mq({"-q", "secret", "-v", "count"}));
  check(sandbox.mq({"info", "-v"}, {}, env));
  check(sandbox.mq({"--set", "credential.password=s3cret-in-set", "-v", "info"}));
  check(sandbox.mq({"-q", "memory://t?password=s3cret-in-uri", "-v", "info"}));
  check(sandbox.mq({"config"}));
  check(sandbox.mq({"config", "--json"}));

  auto listed = sandbox.mq({"config"});
  CHECK(listed.out.find("jobs (default)") != std::string::npos);
  CHECK(listed.out.find("orders") != std::string::npos);
  CHECK(listed.out.find("*****") != std::string::npos);
  auto verbose = sandbox.mq({"-q", "secret", "-v", "count"});
  CHECK(verbose.out == "0\n");
  CHECK(verbose.err.find("secret-topic") != std::string::npos);
}

TEST_CASE("config without a config file says where to create one") {
  Sandbox sandbox;
  auto listed = sandbox.mq({"config"});
  REQUIRE(listed.exit_code == 0);
  REQUIRE(listed.out.empty());
  REQUIRE(listed.err.find("config.json") != std::string::npos);
  auto path = sandbox.mq({"config", "path"});
  REQUIRE(path.exit_code == 0);
  REQUIRE(path.out == (sandbox.dir.path() / "config" / "mq" / "config.json").string() + "\n");
}

TEST_CASE("a broken config file is exit 2") {
  Sandbox sandbox;
  write_default_config(sandbox, "{ not json");
  require_error_line(sandbox.mq({"count"}), 2, "config.json");
  write_default_config(sandbox, R"({"default":"nowhere","queues":{}})");
  require_error_line(sandbox.mq({"count"}), 2, "nowhere");
}
