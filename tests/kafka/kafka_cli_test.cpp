// The mq binary on kafka:// queues against the test broker, and kcat talking
// to the same broker.

#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "kafka_fixture.hpp"
#include "process.hpp"

using namespace std::chrono_literals;
using mqtest::KafkaBroker;
using mqtest::KafkaBrokerOptions;
using mqtest::Process;
using mqtest::Result;
using mqtest::Sandbox;
using mqtest::unique_name;
using nlohmann::json;

namespace {

std::string describe(const Result& result) {
  return "exit " + std::to_string(result.exit_code) + "\nstdout: " + result.out + "\nstderr: " + result.err;
}

std::string lines_of(int count, const std::string& prefix) {
  std::string text;
  for (int i = 0; i < count; ++i) text += prefix + std::to_string(i) + "\n";
  return text;
}

std::uint64_t count(const Sandbox& sandbox, const std::string& uri) {
  auto result = sandbox.mq({"-q", uri, "count"});
  INFO(describe(result));
  REQUIRE(result.exit_code == 0);
  return std::stoull(result.out);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t found = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++found;
  return found;
}

}  // namespace

TEST_CASE("cli: send, count, peek, receive and clear on a kafka:// queue") {
  std::string topic = unique_name("cli");
  KafkaBroker broker({1, {{topic, 2}}});
  Sandbox sandbox;
  std::string uri = broker.uri(topic, "group_id=" + unique_name("group"));

  auto sent = sandbox.mq({"-q", uri, "send", "one", "two", "--type", "note", "--correlation-id", "c-1", "-H", "k=v"});
  INFO(describe(sent));
  REQUIRE(sent.exit_code == 0);
  CHECK(sent.out.empty());
  CHECK(sent.err.empty());
  CHECK(count(sandbox, uri) == 2);

  auto peeked = sandbox.mq({"-q", uri, "peek", "-n", "5"});
  REQUIRE(peeked.exit_code == 0);
  auto peeked_lines = mqtest::lines(peeked.out);
  REQUIRE(peeked_lines.size() == 2);
  for (const auto& line : peeked_lines) {
    auto envelope = json::parse(line);
    CHECK(envelope["message_type"] == "note");
    CHECK(envelope["correlation_id"] == "c-1");
    CHECK(envelope["headers"] == json{{"k", "v"}});
    CHECK(envelope["topic"] == topic);
    CHECK(envelope["key"] == envelope["message_id"]);
  }
  CHECK(count(sandbox, uri) == 2);

  auto received = sandbox.mq({"-q", uri, "receive", "--format", "payload"});
  REQUIRE(received.exit_code == 0);
  CHECK(received.out == "one\n");  // one send goes to one partition, in order
  CHECK(received.err.empty());
  CHECK(count(sandbox, uri) == 1);

  auto cleared = sandbox.mq({"-q", uri, "clear"});
  REQUIRE(cleared.exit_code == 0);
  CHECK(cleared.out == "1\n");
  CHECK(count(sandbox, uri) == 0);
  auto nothing = sandbox.mq({"-q", uri, "receive", "-w", "0"});
  CHECK(nothing.exit_code == 1);
  CHECK(sandbox.mq({"-q", uri, "peek"}).exit_code == 1);
}

TEST_CASE("cli: a fresh group's one-shot receive gets a waiting message") {
  std::string topic = unique_name("fresh");
  KafkaBroker broker({1, {{topic, 4}}});
  Sandbox sandbox;
  REQUIRE(sandbox.mq({"-q", broker.uri(topic), "send", "waiting"}).exit_code == 0);
  auto received =
      sandbox.mq({"-q", broker.uri(topic), "--group", unique_name("group"), "receive", "--format", "payload"});
  INFO(describe(received));
  CHECK(received.exit_code == 0);
  CHECK(received.out == "waiting\n");
}

TEST_CASE("cli: send --lines delivers every line and receive -n takes them all") {
  std::string topic = unique_name("lines");
  KafkaBroker broker({1, {{topic, 4}}});
  Sandbox sandbox;
  std::string uri = broker.uri(topic, "group_id=" + unique_name("group"));
  auto sent = sandbox.mq({"-q", uri, "send", "--lines"}, lines_of(5000, "line-"));
  INFO(describe(sent));
  REQUIRE(sent.exit_code == 0);
  CHECK(count(sandbox, uri) == 5000);

  auto received = sandbox.sh("$MQ -q '" + uri + "' receive -n 5000 --format payload > " + sandbox.dir.str() + "/out");
  REQUIRE(received.exit_code == 0);
  auto got = mqtest::lines(mqtest::read_file(sandbox.dir.path() / "out"));
  auto expected = mqtest::lines(lines_of(5000, "line-"));
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  CHECK(got == expected);
  CHECK(count(sandbox, uri) == 0);
}

TEST_CASE("cli: receive -n 10 | head -1 leaves 9 for the next receive") {
  std::string topic = unique_name("head");
  KafkaBroker broker({1, {{topic, 2}}});
  Sandbox sandbox;
  std::string uri = broker.uri(topic, "group_id=" + unique_name("group"));
  REQUIRE(sandbox.mq({"-q", uri, "send", "--lines"}, lines_of(10, "h")).exit_code == 0);

  auto head = sandbox.sh("$MQ -q '" + uri + "' receive -n 10 | head -1");
  INFO(describe(head));
  REQUIRE(head.exit_code == 0);
  CHECK(mqtest::lines(head.out).size() == 1);
  CHECK(count(sandbox, uri) == 9);
  auto rest = sandbox.mq({"-q", uri, "receive", "-n", "20", "--format", "payload"});
  CHECK(mqtest::lines(rest.out).size() == 9);
}

TEST_CASE("cli: kcat's records with headers come out with message_type and correlation_id") {
  std::string topic = unique_name("fromkcat");
  KafkaBroker broker({1, {{topic, 1}}});
  Sandbox sandbox;
  auto produced = mqtest::run({"kcat", "-P", "-b", broker.bootstrap(), "-t", topic, "-k", "id-from-kcat", "-H",
                               "message_type=order.created", "-H", "correlation_id=corr-9", "-H", "trace=abc"},
                              "{\"id\":7}");
  INFO(describe(produced));
  REQUIRE(produced.exit_code == 0);
  REQUIRE(mqtest::run({"kcat", "-P", "-b", broker.bootstrap(), "-t", topic}, "no key").exit_code == 0);

  auto received = sandbox.mq({"-q", broker.uri(topic), "receive", "-n", "2"});
  INFO(describe(received));
  REQUIRE(received.exit_code == 0);
  auto lines = mqtest::lines(received.out);
  REQUIRE(lines.size() == 2);
  auto first = json::parse(lines[0]);
  CHECK(first["message_id"] == "id-from-kcat");
  CHECK(first["message_type"] == "order.created");
  CHECK(first["correlation_id"] == "corr-9");
  CHECK(first["message"] == "{\"id\":7}");
  CHECK(first["headers"] == json{{"trace", "abc"}});
  auto second = json::parse(lines[1]);
  CHECK(second["message"] == "no key");
  CHECK(second["message_id"] == "0-1");  // no key: the record's partition and offset
  CHECK(second["message_type"].is_null());
}

TEST_CASE("cli: what mq sends reads back in kcat as pip-services writes it") {
  std::string topic = unique_name("tokcat");
  KafkaBroker broker({1, {{topic, 1}}});
  Sandbox sandbox;
  auto sent = sandbox.mq(
      {"-q", broker.uri(topic), "send", "payload-1", "--type", "acc.type", "--correlation-id", "corr-1", "--print"});
  INFO(describe(sent));
  REQUIRE(sent.exit_code == 0);
  auto envelope = json::parse(mqtest::lines(sent.out).at(0));

  auto read = mqtest::run({"kcat", "-C", "-b", broker.bootstrap(), "-t", topic, "-e", "-J", "-q"});
  INFO(describe(read));
  REQUIRE(read.exit_code == 0);
  auto record = json::parse(mqtest::lines(read.out).at(0));
  CHECK(record["key"] == envelope["message_id"]);
  CHECK(record["payload"] == "payload-1");
  CHECK(record["headers"] == json{"message_type", "acc.type", "correlation_id", "corr-1"});
  CHECK(record["tstype"] == "create");
  auto sent_time = envelope["sent_time"].get<std::string>();
  // ts is the sent_time in milliseconds: compare the millisecond digits.
  CHECK(std::to_string(record["ts"].get<long long>() % 1000) == std::to_string(std::stoi(sent_time.substr(20, 3))));
}

TEST_CASE("cli: --key sets the record key and --partition the partition") {
  std::string topic = unique_name("key");
  KafkaBroker broker({1, {{topic, 3}}});
  Sandbox sandbox;
  auto sent = sandbox.mq({"-q", broker.uri(topic), "send", "k", "--key", "customer-1", "--partition", "2", "--print"});
  INFO(describe(sent));
  REQUIRE(sent.exit_code == 0);
  auto envelope = json::parse(mqtest::lines(sent.out).at(0));

  auto read = mqtest::run({"kcat", "-C", "-b", broker.bootstrap(), "-t", topic, "-e", "-J", "-q"});
  auto record = json::parse(mqtest::lines(read.out).at(0));
  CHECK(record["key"] == "customer-1");
  CHECK(record["partition"] == 2);
  CHECK(record["headers"] == json{"message_id", envelope["message_id"]});

  auto received = json::parse(sandbox.mq({"-q", broker.uri(topic), "receive"}).out);
  CHECK(received["message_id"] == envelope["message_id"]);
  CHECK(received["key"] == "customer-1");
  CHECK(received["partition"] == 2);
}

TEST_CASE("cli: from_beginning=false starts a new group at the end") {
  std::string topic = unique_name("latest");
  KafkaBroker broker({1, {{topic, 3}}});
  Sandbox sandbox;
  REQUIRE(sandbox.mq({"-q", broker.uri(topic), "send", "old"}).exit_code == 0);
  std::string uri = broker.uri(topic, "group_id=" + unique_name("group") + "&from_beginning=false");
  CHECK(count(sandbox, uri) == 0);
  CHECK(sandbox.mq({"-q", uri, "receive", "-w", "0"}).exit_code == 1);
  // The group now stands where its first receive found the end: what is sent
  // after it is the next receive's, though nothing was read in between.
  REQUIRE(sandbox.mq({"-q", broker.uri(topic), "send", "--partition", "2", "new"}).exit_code == 0);
  auto next = sandbox.mq({"-q", uri, "receive", "-w", "5s", "--format", "payload"});
  REQUIRE(next.exit_code == 0);
  CHECK(next.out == "new\n");
}

TEST_CASE("cli: listeners in one group share the partitions, print each message once and leave cleanly") {
  std::string topic = unique_name("listen");
  std::string group = unique_name("group");
  KafkaBrokerOptions options{1, {{topic, 4}}, true};
  KafkaBroker broker(options);
  Sandbox sandbox;
  std::string uri = broker.uri(topic, "group_id=" + group);
  Process first({mqtest::mq_binary(), "-q", uri, "listen", "--format", "payload"}, sandbox.env, sandbox.dir.path(),
                "first");
  Process second({mqtest::mq_binary(), "-q", uri, "listen", "--format", "payload"}, sandbox.env, sandbox.dir.path(),
                 "second");

  int sent = 0;
  auto deadline = std::chrono::steady_clock::now() + 25s;
  while ((first.out().empty() || second.out().empty()) && std::chrono::steady_clock::now() < deadline) {
    auto result =
        sandbox.mq({"-q", broker.uri(topic), "send", "--lines"}, lines_of(8, "r" + std::to_string(sent) + "-"));
    REQUIRE(result.exit_code == 0);
    sent += 8;
    std::this_thread::sleep_for(300ms);
  }
  auto printed = [&] { return mqtest::lines(first.out()).size() + mqtest::lines(second.out()).size(); };
  while (printed() < static_cast<std::size_t>(sent) && std::chrono::steady_clock::now() < deadline + 10s)
    std::this_thread::sleep_for(50ms);

  first.signal(SIGTERM);
  second.signal(SIGTERM);
  CHECK(first.wait(20s) == std::optional<int>(0));
  CHECK(second.wait(20s) == std::optional<int>(0));
  INFO("first stderr: " << first.err() << "\nsecond stderr: " << second.err());
  CHECK(first.err().empty());  // librdkafka's logs never reach the terminal
  CHECK(second.err().empty());
  auto a = mqtest::lines(first.out()), b = mqtest::lines(second.out());
  CHECK(!a.empty());
  CHECK(!b.empty());
  std::multiset<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  CHECK(all.size() == static_cast<std::size_t>(sent));
  CHECK(std::set<std::string>(all.begin(), all.end()).size() == static_cast<std::size_t>(sent));
  CHECK(count(sandbox, uri) == 0);
  // Each sent a LeaveGroup rather than vanishing until its session timed out.
  CHECK(occurrences(broker.log(), "is leaving group " + group) == 2);
}

TEST_CASE("cli: listen -n stops after N messages and commits them") {
  std::string topic = unique_name("listen-n");
  KafkaBroker broker({1, {{topic, 1}}});
  Sandbox sandbox;
  std::string uri = broker.uri(topic, "group_id=" + unique_name("group"));
  REQUIRE(sandbox.mq({"-q", uri, "send", "--lines"}, lines_of(5, "n")).exit_code == 0);
  auto listened = sandbox.mq({"-q", uri, "listen", "-n", "3", "--format", "payload"}, {}, {}, 60s);
  INFO(describe(listened));
  CHECK(listened.exit_code == 0);
  CHECK(listened.out == "n0\nn1\nn2\n");
  CHECK(count(sandbox, uri) == 2);
}

TEST_CASE("cli: a broker taken down during send --lines loses nothing") {
  std::string topic = unique_name("failover");
  KafkaBroker broker({3, {{topic, 6}}});
  Sandbox sandbox;
  auto dir = sandbox.dir.path();
  mqtest::write_file(dir / "before", lines_of(20000, "before-"));
  mqtest::write_file(dir / "after", lines_of(20000, "after-"));
  // The second half is written once the file "go" exists.
  std::string script = "cd '" + dir.string() +
                       "' && { cat before; while [ ! -e go ]; do sleep 0.01; done; cat after; } | " + "$MQ -q '" +
                       broker.uri(topic) + "' send --lines";
  Process sender({"/bin/sh", "-c", script}, sandbox.env, dir, "sender");

  // Take the broker down once messages are flowing.
  std::string probe = broker.uri(topic, "group_id=probe");
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (count(sandbox, probe) == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  broker.take_down(2);
  mqtest::write_file(dir / "go", "");
  CHECK(sender.wait(60s) == std::optional<int>(0));
  INFO("sender stderr: " << sender.err());
  CHECK(sender.err().empty());

  broker.bring_up(2);
  std::string uri = broker.uri(topic, "group_id=" + unique_name("group"));
  // The mock cluster may keep a batch the producer sent again twice (see the
  // queue's failover test): nothing lost is what is asked.
  auto stored = count(sandbox, uri);
  CHECK(stored >= 40000);
  auto received = sandbox.sh("$MQ -q '" + uri + "' receive -n " + std::to_string(stored) + " --format payload > " +
                             sandbox.dir.str() + "/out");
  REQUIRE(received.exit_code == 0);
  auto got = mqtest::lines(mqtest::read_file(sandbox.dir.path() / "out"));
  CHECK(got.size() == stored);
  auto expected = mqtest::lines(lines_of(20000, "before-") + lines_of(20000, "after-"));
  CHECK(std::set<std::string>(got.begin(), got.end()) == std::set<std::string>(expected.begin(), expected.end()));
}

TEST_CASE("cli: no reachable broker is exit 3 with a clear message") {
  Sandbox sandbox;
  auto port = std::to_string(mqtest::free_port());
  for (const char* command : {"send", "receive", "count"}) {
    std::vector<std::string> args{"-q", "kafka://127.0.0.1:" + port + "/topic", "--connect-timeout", "500ms", command};
    if (std::string(command) == "send") args.push_back("x");
    auto result = sandbox.mq(args, {}, {}, 30s);
    INFO(describe(result));
    CHECK(result.exit_code == 3);
    CHECK(contains(result.err, "cannot reach any Kafka broker at 127.0.0.1:" + port + " within 500ms"));
    CHECK(mqtest::lines(result.err).size() == 1);
  }
}

TEST_CASE("cli: receive from a topic that does not exist says so") {
  KafkaBroker broker;
  Sandbox sandbox;
  auto result = sandbox.mq({"-q", broker.uri("missing-topic"), "receive", "-w", "1s"});
  INFO(describe(result));
  CHECK(result.exit_code == 3);
  CHECK(contains(result.err, "topic \"missing-topic\" does not exist"));
}

TEST_CASE("cli: kafka.<property> reaches librdkafka, and a wrong one is a usage error") {
  std::string topic = unique_name("props");
  KafkaBroker broker({1, {{topic, 1}}});
  Sandbox sandbox;
  auto good = sandbox.mq({"-q", broker.uri(topic), "--set", "kafka.linger.ms=1", "--set", "kafka.compression.codec=lz4",
                          "send", "compressed"});
  INFO(describe(good));
  CHECK(good.exit_code == 0);
  CHECK(sandbox.mq({"-q", broker.uri(topic), "receive", "--format", "payload"}).out == "compressed\n");

  auto bad = sandbox.mq({"-q", broker.uri(topic), "--set", "kafka.no.such.thing=1", "send", "x"});
  CHECK(bad.exit_code == 2);
  CHECK(contains(bad.err, "kafka.no.such.thing"));
}

TEST_CASE("cli: a user name turns on SASL PLAIN, a failure says so and never shows the password") {
  std::string topic = unique_name("sasl");
  KafkaBroker broker({1, {{topic, 1}}});  // the mock broker speaks no SASL
  Sandbox sandbox;
  std::string uri = "kafka://bob:hunter2@" + broker.bootstrap() + "/" + topic;
  for (const char* command : {"count", "send"}) {
    std::vector<std::string> args{"-q", uri, command};
    if (std::string(command) == "send") args.push_back("x");
    auto result = sandbox.mq(args, {}, {}, 30s);
    INFO(describe(result));
    CHECK(result.exit_code == 3);
    CHECK(contains(result.err, "authentication with the Kafka cluster at " + broker.bootstrap() + " failed"));
    CHECK_FALSE(contains(result.err, "hunter2"));
  }
}
