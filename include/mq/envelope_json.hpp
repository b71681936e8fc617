#pragma once
// Envelope <-> JSON, in the spec's native form and the seeds' serialized (pip)
// form. Writing is hand-rolled because it sits on the receive hot path;
// reading goes through nlohmann/json.

#include <string>
#include <string_view>

#include "mq/envelope.hpp"

namespace mq {

enum class EnvelopeForm {
  native,  // spec: payload as text when valid UTF-8, else base64 + "encoding"; metadata follows
  pip,     // seeds: exactly five keys, payload always base64
};

// Appends one compact JSON object (no newline).
void append_envelope_json(std::string& out, const Envelope& envelope, EnvelopeForm form);
std::string to_json(const Envelope& envelope, EnvelopeForm form);

// Reads either form (see docs: an object with only the five pip keys whose
// message is valid base64 is read as pip). A non-string `message` becomes its
// compact JSON text. Throws std::invalid_argument with a one-line reason.
Envelope parse_envelope_json(std::string_view text);

// pip-services' MQTT wire format: the serialized envelope of the seeds.
std::string serialize_pip_envelope(const Envelope& envelope);
// Decodes a payload that is a serialized pip envelope; nullopt when it is not one.
std::optional<Envelope> try_parse_pip_envelope(std::string_view payload);

// Helpers shared by output formatting and backends.
bool is_valid_utf8(std::string_view bytes);
void append_json_string(std::string& out, std::string_view utf8);  // with quotes
std::string base64_encode(std::string_view bytes);
void append_base64(std::string& out, std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace mq
