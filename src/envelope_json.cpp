#include "mq/envelope_json.hpp"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace mq {

namespace {

constexpr char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> base64_values = [] {
  std::array<std::int8_t, 256> values{};
  values.fill(-1);
  for (int i = 0; i < 64; ++i) values[static_cast<unsigned char>(base64_alphabet[i])] = static_cast<std::int8_t>(i);
  return values;
}();

void append_optional_string(std::string& out, const char* key, const std::optional<std::string>& value) {
  out += key;
  if (value) append_json_string(out, *value);
  else out += "null";
}

// Header names and values should be text; bytes that are not become U+FFFD
// rather than breaking the JSON line.
void append_text_lossy(std::string& out, std::string_view bytes) {
  if (is_valid_utf8(bytes)) {
    append_json_string(out, bytes);
    return;
  }
  std::string cleaned;
  for (unsigned char c : bytes) cleaned += c < 0x80 ? std::string(1, static_cast<char>(c)) : std::string("\xEF\xBF\xBD");
  append_json_string(out, cleaned);
}

std::optional<std::string> optional_string(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw std::invalid_argument(fmt::format("\"{}\" must be a string or null", key));
  return it->get<std::string>();
}

}  // namespace

bool is_valid_utf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    // ASCII runs are the common case: check eight bytes at a time.
    while (end - p >= 8) {
      std::uint64_t chunk;
      std::memcpy(&chunk, p, 8);
      if (chunk & 0x8080808080808080ULL) break;
      p += 8;
    }
    if (p >= end) break;
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int length;
    std::uint32_t code;
    if ((c & 0xE0) == 0xC0) length = 2, code = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) length = 3, code = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) length = 4, code = c & 0x07;
    else return false;
    if (end - p < length) return false;
    for (int i = 1; i < length; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      code = (code << 6) | (p[i] & 0x3F);
    }
    if ((length == 2 && code < 0x80) || (length == 3 && code < 0x800) || (length == 4 && code < 0x10000) ||
        code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
      return false;
    p += length;
  }
  return true;
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  std::size_t run_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
    }
  }
  out.append(text.data() + run_start, text.size() - run_start);
  out += '"';
}

void append_base64(std::string& out, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size(), i = 0;
  std::size_t start = out.size();
  out.resize(start + (n + 2) / 3 * 4);
  char* w = out.data() + start;
  for (; i + 3 <= n; i += 3) {
    std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    *w++ = base64_alphabet[v >> 18];
    *w++ = base64_alphabet[(v >> 12) & 63];
    *w++ = base64_alphabet[(v >> 6) & 63];
    *w++ = base64_alphabet[v & 63];
  }
  if (i < n) {
    std::uint32_t v = p[i] << 16;
    if (i + 1 < n) v |= p[i + 1] << 8;
    *w++ = base64_alphabet[v >> 18];
    *w++ = base64_alphabet[(v >> 12) & 63];
    *w++ = i + 1 < n ? base64_alphabet[(v >> 6) & 63] : '=';
    *w++ = '=';
  }
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  append_base64(out, bytes);
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int padding = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        v[j] = 0;
        ++padding;
      } else {
        if (padding) return std::nullopt;
        v[j] = base64_values[static_cast<unsigned char>(c)];
        if (v[j] < 0) return std::nullopt;
      }
    }
    std::uint32_t bits = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>(bits >> 16);
    if (padding < 2) out += static_cast<char>((bits >> 8) & 0xFF);
    if (padding < 1) out += static_cast<char>(bits & 0xFF);
  }
  return out;
}

void append_envelope_json(std::string& out, const Envelope& e, EnvelopeForm form) {
  out += "{\"message_id\":";
  append_json_string(out, e.message_id);
  append_optional_string(out, ",\"correlation_id\":", e.correlation_id);
  append_optional_string(out, ",\"message_type\":", e.message_type);
  out += ",\"sent_time\":\"";
  append_time(out, e.sent_time);
  out += "\",\"message\":";
  if (form == EnvelopeForm::pip) {
    out += '"';
    append_base64(out, e.payload);
    out += "\"}";
    return;
  }
  if (is_valid_utf8(e.payload)) {
    append_json_string(out, e.payload);
  } else {
    out += '"';
    append_base64(out, e.payload);
    out += "\",\"encoding\":\"base64\"";
  }
  auto text = [&](const char* key, const std::optional<std::string>& value) {
    if (!value) return;
    out += key;
    append_text_lossy(out, *value);
  };
  text(",\"queue\":", e.queue);
  text(",\"topic\":", e.topic);
  if (e.partition) fmt::format_to(std::back_inserter(out), ",\"partition\":{}", *e.partition);
  if (e.offset) fmt::format_to(std::back_inserter(out), ",\"offset\":{}", *e.offset);
  text(",\"key\":", e.key);
  if (!e.headers.empty()) {
    out += ",\"headers\":{";
    bool first = true;
    for (const auto& header : e.headers) {
      if (!first) out += ',';
      first = false;
      append_text_lossy(out, header.name);
      out += ':';
      append_text_lossy(out, header.value);
    }
    out += '}';
  }
  if (e.timestamp) {
    out += ",\"timestamp\":\"";
    append_time(out, *e.timestamp);
    out += '"';
  }
  if (e.qos) fmt::format_to(std::back_inserter(out), ",\"qos\":{}", *e.qos);
  if (e.retained) out += *e.retained ? ",\"retained\":true" : ",\"retained\":false";
  text(",\"lock_token\":", e.lock_token);
  if (e.delivery_count) fmt::format_to(std::back_inserter(out), ",\"delivery_count\":{}", *e.delivery_count);
  out += '}';
}

std::string to_json(const Envelope& envelope, EnvelopeForm form) {
  std::string out;
  append_envelope_json(out, envelope, form);
  return out;
}

namespace {

bool is_pip_shaped(const nlohmann::json& object) {
  static constexpr std::array<const char*, 5> pip_keys = {"message_id", "correlation_id", "message_type",
                                                           "sent_time", "message"};
  if (object.size() != pip_keys.size()) return false;
  for (const char* key : pip_keys)
    if (!object.contains(key)) return false;
  const auto& message = object["message"];
  return message.is_string() && base64_decode(message.get_ref<const std::string&>()).has_value();
}

Envelope envelope_from_object(const nlohmann::json& object) {
  if (!object.is_object()) throw std::invalid_argument("an envelope must be a JSON object");
  auto message = object.find("message");
  if (message == object.end()) throw std::invalid_argument("missing \"message\"");

  Envelope e;
  if (auto id = optional_string(object, "message_id")) e.message_id = *id;
  e.correlation_id = optional_string(object, "correlation_id");
  e.message_type = optional_string(object, "message_type");
  if (auto it = object.find("sent_time"); it != object.end() && !it->is_null()) {
    if (it->is_number_integer()) {
      e.sent_time = TimePoint{Duration{it->get<std::int64_t>()}};
    } else if (it->is_string()) {
      auto parsed = parse_time(it->get_ref<const std::string&>());
      if (!parsed) throw std::invalid_argument("\"sent_time\" is not an ISO 8601 time");
      e.sent_time = *parsed;
    } else {
      throw std::invalid_argument("\"sent_time\" must be an ISO 8601 string or milliseconds");
    }
  }

  auto encoding = optional_string(object, "encoding");
  if (encoding && *encoding != "base64" && *encoding != "utf8" && *encoding != "utf-8")
    throw std::invalid_argument(fmt::format("unknown encoding \"{}\"", *encoding));
  bool base64 = (encoding && *encoding == "base64") || (!encoding && is_pip_shaped(object));
  if (message->is_string()) {
    const auto& text = message->get_ref<const std::string&>();
    if (base64) {
      auto bytes = base64_decode(text);
      if (!bytes) throw std::invalid_argument("\"message\" is not valid base64");
      e.payload = std::move(*bytes);
    } else {
      e.payload = text;
    }
  } else if (message->is_null()) {
    e.payload.clear();
  } else {
    e.payload = message->dump();
  }

  e.key = optional_string(object, "key");
  if (auto it = object.find("headers"); it != object.end() && !it->is_null()) {
    auto as_text = [](const nlohmann::json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); };
    if (it->is_object()) {
      for (const auto& [name, value] : it->items()) e.headers.push_back({name, as_text(value)});
    } else if (it->is_array() && it->size() % 2 == 0) {  // kcat -J: [name, value, name, value]
      for (std::size_t i = 0; i < it->size(); i += 2) e.headers.push_back({as_text((*it)[i]), as_text((*it)[i + 1])});
    } else {
      throw std::invalid_argument("\"headers\" must be an object of strings");
    }
  }
  return e;
}

}  // namespace

Envelope parse_envelope_json(std::string_view text) {
  nlohmann::json object = nlohmann::json::parse(text, nullptr, false);
  if (object.is_discarded()) throw std::invalid_argument("not valid JSON");
  return envelope_from_object(object);
}

std::string serialize_pip_envelope(const Envelope& envelope) { return to_json(envelope, EnvelopeForm::pip); }

std::optional<Envelope> try_parse_pip_envelope(std::string_view payload) {
  if (payload.size() < 2 || payload.front() != '{') return std::nullopt;
  nlohmann::json object = nlohmann::json::parse(payload, nullptr, false);
  if (object.is_discarded() || !object.is_object()) return std::nullopt;
  auto message = object.find("message");
  auto id = object.find("message_id");
  if (message == object.end() || id == object.end() || !message->is_string()) return std::nullopt;
  for (const auto& [key, value] : object.items())
    if (key != "message_id" && key != "correlation_id" && key != "message_type" && key != "sent_time" &&
        key != "message")
      return std::nullopt;
  auto bytes = base64_decode(message->get_ref<const std::string&>());
  if (!bytes) return std::nullopt;
  try {
    Envelope e = envelope_from_object(object);
    e.payload = std::move(*bytes);
    return e;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace mq
