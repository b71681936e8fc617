#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "mq/envelope_json.hpp"

using namespace mq;

namespace {

Envelope sample(std::string payload) {
  Envelope e;
  e.message_id = "a1b2";
  e.correlation_id = "c-7";
  e.message_type = "order.created";
  e.sent_time = *parse_time("2026-11-22T01:02:03.456Z");
  e.payload = std::move(payload);
  return e;
}

// Native output always carries the queue or topic it came from; that is what
// tells it apart from the pip form when the text happens to be valid base64.
Envelope round_trip(Envelope e, EnvelopeForm form) {
  if (form == EnvelopeForm::native) e.queue = "q";
  return parse_envelope_json(to_json(e, form));
}

void require_same_content(const Envelope& a, const Envelope& b) {
  REQUIRE(a.message_id == b.message_id);
  REQUIRE(a.correlation_id == b.correlation_id);
  REQUIRE(a.message_type == b.message_type);
  REQUIRE(a.sent_time == b.sent_time);
  REQUIRE(a.payload == b.payload);
}

}  // namespace

TEST_CASE("message ids are 32 lowercase hex characters, a UUID v4") {
  auto id = generate_message_id();
  REQUIRE(id.size() == 32);
  REQUIRE(id.find_first_not_of("0123456789abcdef") == std::string::npos);
  REQUIRE(id[12] == '4');
  REQUIRE(std::string("89ab").find(id[16]) != std::string::npos);
  REQUIRE(id != generate_message_id());
}

TEST_CASE("times print as UTC ISO 8601 with milliseconds and parse back") {
  auto t = parse_time("2026-11-22T01:02:03.456Z");
  REQUIRE(t);
  REQUIRE(format_time(*t) == "2026-11-22T01:02:03.456Z");
  REQUIRE(format_time(*parse_time("2026-11-22T03:02:03.4+02:00")) == "2026-11-22T01:02:03.400Z");
  REQUIRE(format_time(*parse_time("1969-12-31T23:59:59.999Z")) == "1969-12-31T23:59:59.999Z");
  REQUIRE(format_time(TimePoint{}) == "1970-01-01T00:00:00.000Z");
  REQUIRE_FALSE(parse_time("2026-13-01T00:00:00Z"));
  REQUIRE_FALSE(parse_time("yesterday"));
  REQUIRE_FALSE(parse_time("2026-11-22T01:02:03.Z"));
}

TEST_CASE("stamp fills a missing id and time and keeps given ones") {
  Envelope e;
  stamp(e);
  REQUIRE(e.message_id.size() == 32);
  REQUIRE(e.sent_time.time_since_epoch().count() > 0);
  Envelope given = sample("x");
  stamp(given);
  REQUIRE(given.message_id == "a1b2");
  REQUIRE(format_time(given.sent_time) == "2026-11-22T01:02:03.456Z");
}

TEST_CASE("native JSON has the spec's keys in the spec's order") {
  Envelope e = sample("{\"id\":7}");
  e.queue = "orders";
  e.topic = "orders";
  e.partition = 0;
  e.offset = 41;
  e.key = "a1b2";
  e.headers = {{"trace", "x"}};
  REQUIRE(to_json(e, EnvelopeForm::native) ==
          R"({"message_id":"a1b2","correlation_id":"c-7","message_type":"order.created",)"
          R"("sent_time":"2026-11-22T01:02:03.456Z","message":"{\"id\":7}","queue":"orders","topic":"orders",)"
          R"("partition":0,"offset":41,"key":"a1b2","headers":{"trace":"x"}})");
}

TEST_CASE("absent correlation id and type print as null, absent metadata is left out") {
  Envelope e;
  e.message_id = "m";
  e.payload = "p";
  auto json = nlohmann::json::parse(to_json(e, EnvelopeForm::native));
  REQUIRE(json["correlation_id"].is_null());
  REQUIRE(json["message_type"].is_null());
  REQUIRE_FALSE(json.contains("topic"));
  REQUIRE_FALSE(json.contains("encoding"));
}

TEST_CASE("pip form is exactly the seeds' five keys with a base64 message") {
  Envelope e = sample("payload-0");
  e.topic = "t";
  e.correlation_id.reset();
  REQUIRE(to_json(e, EnvelopeForm::pip) ==
          R"({"message_id":"a1b2","correlation_id":null,"message_type":"order.created",)"
          R"("sent_time":"2026-11-22T01:02:03.456Z","message":"cGF5bG9hZC0w"})");
}

TEST_CASE("envelopes round-trip through both forms") {
  std::string binary("\x00\x01\xff\xfe text \x00", 11);
  std::string invalid_utf8 = "caf\xc3";
  std::string big(1 << 20, 'x');
  for (char& c : big) c = static_cast<char>('a' + (&c - big.data()) % 26);
  std::string big_binary(1 << 20, '\0');
  for (std::size_t i = 0; i < big_binary.size(); ++i) big_binary[i] = static_cast<char>(i * 7919 % 256);
  auto payload = GENERATE_COPY(std::string(), std::string("hello"), binary, invalid_utf8, big, big_binary,
                               std::string("line\nbreak \"quoted\" \\ \t tab \x01"), std::string("ünïcødé ✓ 😀"));
  auto form = GENERATE(EnvelopeForm::native, EnvelopeForm::pip);
  Envelope e = sample(payload);
  require_same_content(round_trip(e, form), e);
}

TEST_CASE("payloads that are not valid UTF-8 go out as base64 with an encoding key") {
  Envelope e = sample(std::string("\x00\xff", 2));
  auto json = nlohmann::json::parse(to_json(e, EnvelopeForm::native));
  REQUIRE(json["message"] == "AP8=");
  REQUIRE(json["encoding"] == "base64");
  REQUIRE_FALSE(is_valid_utf8("\xed\xa0\x80"));  // a surrogate
  REQUIRE_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong
  REQUIRE(is_valid_utf8("plain ascii and é"));
}

TEST_CASE("a message that is not a string is sent as its compact JSON text") {
  REQUIRE(parse_envelope_json(R"({"message":{"id": 7, "tags":["a"]}})").payload == R"({"id":7,"tags":["a"]})");
  REQUIRE(parse_envelope_json(R"({"message":[1, 2]})").payload == "[1,2]");
  REQUIRE(parse_envelope_json(R"({"message":42})").payload == "42");
  REQUIRE(parse_envelope_json(R"({"message":true})").payload == "true");
  REQUIRE(parse_envelope_json(R"({"message":null})").payload.empty());
}

TEST_CASE("reading envelopes: optional fields, headers, and errors") {
  auto e = parse_envelope_json(R"({"message":"hi","headers":{"a":"1","n":2},"key":"k","sent_time":1000})");
  REQUIRE(e.message_id.empty());
  REQUIRE_FALSE(e.correlation_id);
  REQUIRE(e.key == "k");
  REQUIRE(e.headers == std::vector<Header>{{"a", "1"}, {"n", "2"}});
  REQUIRE(e.sent_time == TimePoint{Duration{1000}});
  auto kcat_headers = parse_envelope_json(R"({"message":"x","headers":["a","1","b","2"]})");
  REQUIRE(kcat_headers.headers.size() == 2);

  REQUIRE_THROWS_WITH(parse_envelope_json("{not json"), "not valid JSON");
  REQUIRE_THROWS_WITH(parse_envelope_json(R"({"payload":"x"})"), "missing \"message\"");
  REQUIRE_THROWS_WITH(parse_envelope_json(R"(["message"])"), "an envelope must be a JSON object");
  REQUIRE_THROWS(parse_envelope_json(R"({"message":"x","sent_time":"noon"})"));
  REQUIRE_THROWS(parse_envelope_json(R"({"message":"!!","encoding":"base64"})"));
  REQUIRE_THROWS(parse_envelope_json(R"({"message":"x","correlation_id":5})"));
}

TEST_CASE("native text that happens to be base64 stays text unless all five pip keys are there") {
  REQUIRE(parse_envelope_json(R"({"message":"abcd"})").payload == "abcd");
  REQUIRE(parse_envelope_json(R"({"message":"abcd","queue":"q","message_id":"1","correlation_id":null,)"
                              R"("message_type":null,"sent_time":"2026-11-22T01:02:03.456Z"})")
              .payload == "abcd");
  REQUIRE(parse_envelope_json(R"({"message_id":"1","correlation_id":null,"message_type":null,)"
                              R"("sent_time":"2026-11-22T01:02:03.456Z","message":"aGk="})")
              .payload == "hi");
}

TEST_CASE("pip-services' MQTT payloads are recognised and others are not") {
  auto captured = try_parse_pip_envelope(
      R"({"message_id":"36c2e3e102a6442f9ccd76e6abb72fca","correlation_id":"corr-0","message_type":"acc.type",)"
      R"("sent_time":"2026-11-22T01:48:45.102Z","message":"cGF5bG9hZC0w"})");
  REQUIRE(captured);
  REQUIRE(captured->message_id == "36c2e3e102a6442f9ccd76e6abb72fca");
  REQUIRE(captured->correlation_id == "corr-0");
  REQUIRE(captured->message_type == "acc.type");
  REQUIRE(captured->payload == "payload-0");
  REQUIRE(format_time(captured->sent_time) == "2026-11-22T01:48:45.102Z");

  REQUIRE_FALSE(try_parse_pip_envelope("payload-0"));
  REQUIRE_FALSE(try_parse_pip_envelope(R"({"id":7})"));
  REQUIRE_FALSE(try_parse_pip_envelope(R"({"message_id":"1","message":"not base64!"})"));
  REQUIRE_FALSE(try_parse_pip_envelope(R"({"message_id":"1","message":"aGk=","extra":1})"));

  Envelope e = sample(std::string("\x00\x01", 2));
  auto back = try_parse_pip_envelope(serialize_pip_envelope(e));
  REQUIRE(back);
  require_same_content(*back, e);
}

TEST_CASE("base64 is standard, padded and strict") {
  REQUIRE(base64_encode("") == "");
  REQUIRE(base64_encode("f") == "Zg==");
  REQUIRE(base64_encode("fo") == "Zm8=");
  REQUIRE(base64_encode("foo") == "Zm9v");
  REQUIRE(base64_decode("Zm9vYg==") == std::optional<std::string>("foob"));
  REQUIRE_FALSE(base64_decode("Zm9"));
  REQUIRE_FALSE(base64_decode("Zm=v"));
  REQUIRE_FALSE(base64_decode("Z$9v"));
}

TEST_CASE("control characters are escaped so every envelope stays one line") {
  std::string out;
  append_json_string(out, std::string("a\nb\x1f\"\\", 6));
  REQUIRE(out == R"("a\nb\u001f\"\\")");
}
