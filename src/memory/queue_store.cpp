#include "memory/queue_store.hpp"

#include <fmt/format.h>

#include <cstring>
#include <thread>

namespace mq::memory {

namespace {

constexpr std::int64_t schema_version = 1;

// Opening waits this long for another process that is creating the store.
constexpr std::chrono::seconds open_patience{30};

void configure(Connection& connection) {
  // - Large pages suit a table appended at one end and drained at the other.
  //   Only a new file takes the page size; it goes first because the cache
  //   size below is turned into pages of the size known at that moment.
  // - secure_delete (on in Debian's build) would overwrite every removed message.
  // - synchronous=NORMAL with WAL: a killed process loses nothing committed;
  //   only an OS crash may lose the last commits, and the store lives in RAM.
  connection.execute(
      "PRAGMA page_size = 8192;"
      "PRAGMA secure_delete = OFF;"
      "PRAGMA synchronous = NORMAL;"
      "PRAGMA cache_size = -8192;"
      "PRAGMA temp_store = MEMORY;"
      "PRAGMA journal_size_limit = 16777216;");
}

std::int64_t query_integer(Connection& connection, const char* sql) {
  Statement statement(connection, sql);
  StatementScope scope(statement);
  return statement.step() ? statement.integer(0) : 0;
}

void create_schema(Connection& connection) {
  auto version = query_integer(connection, "PRAGMA user_version");
  if (version == schema_version) return;
  if (version > schema_version)
    throw BrokerError(fmt::format("memory store {} was written by a newer mq (schema {})", connection.path(), version));
  {
    Statement journal(connection, "PRAGMA journal_mode = WAL");
    StatementScope scope(journal);
    if (!journal.step() || journal.bytes(0) != "wal")
      throw BrokerError(fmt::format("memory store {}: the file system does not support SQLite's WAL mode",
                                    connection.path()));
  }
  WriteTransaction transaction(connection);
  connection.execute(
      "CREATE TABLE IF NOT EXISTS messages("
      "  id INTEGER PRIMARY KEY,"
      "  message_id TEXT NOT NULL,"
      "  correlation_id TEXT,"
      "  message_type TEXT,"
      "  sent_time INTEGER NOT NULL,"
      "  payload BLOB NOT NULL,"
      "  key TEXT,"
      "  headers BLOB,"
      "  deliveries INTEGER NOT NULL DEFAULT 0,"
      "  lock_until INTEGER,"
      "  lock_token TEXT);"
      "CREATE INDEX IF NOT EXISTS timed_locks ON messages(lock_until) WHERE lock_token IS NOT NULL;"
      "CREATE TABLE IF NOT EXISTS claims("
      "  first INTEGER PRIMARY KEY,"
      "  last INTEGER NOT NULL,"
      "  owner INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS owners("
      "  id INTEGER PRIMARY KEY,"
      "  pid INTEGER NOT NULL,"
      "  start_time INTEGER NOT NULL,"
      "  boot_id TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS counters("
      "  id INTEGER PRIMARY KEY CHECK (id = 1),"
      "  total INTEGER NOT NULL,"
      "  in_flight INTEGER NOT NULL,"
      "  next_id INTEGER NOT NULL);"
      "INSERT OR IGNORE INTO counters(id, total, in_flight, next_id) VALUES (1, 0, 0, 1);");
  connection.execute(fmt::format("PRAGMA user_version = {}", schema_version).c_str());
  transaction.commit();
}

bool ensure_schema(Connection& connection) {
  connection.set_lock_deadline(SteadyClock::now() + open_patience);
  configure(connection);
  for (;;) {
    try {
      create_schema(connection);
      return true;
    } catch (const StoreBusy&) {
      // Switching a new file to WAL mode fails at once, without waiting, while
      // another process does the same.
      if (connection.lock_deadline_passed()) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

void put_u32(std::string& out, std::size_t value) {
  auto v = static_cast<std::uint32_t>(value);
  char bytes[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                   static_cast<char>(v >> 24)};
  out.append(bytes, 4);
}

bool take_u32(std::string_view& in, std::size_t& value) {
  if (in.size() < 4) return false;
  auto byte = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[static_cast<std::size_t>(i)])); };
  value = byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24;
  in.remove_prefix(4);
  return true;
}

}  // namespace

QueueStore::QueueStore(const std::string& path)
    : connection_(path),
      schema_ready_(ensure_schema(connection_)),
      next_id(connection_, "SELECT next_id FROM counters WHERE id = 1"),
      insert(connection_,
             "INSERT INTO messages(id, message_id, correlation_id, message_type, sent_time, payload, key, headers) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
      adjust(connection_,
             "UPDATE counters SET total = total + ?1, in_flight = in_flight + ?2, next_id = next_id + ?3 "
             "WHERE id = 1 RETURNING total, in_flight"),
      counters(connection_, "SELECT total, in_flight FROM counters WHERE id = 1"),
      version(connection_, "PRAGMA data_version"),
      freelist(connection_, "PRAGMA freelist_count") {}

void QueueStore::append(std::span<const Envelope> messages, std::optional<SteadyClock::time_point> lock_deadline) {
  if (messages.empty()) return;
  connection_.set_lock_deadline(lock_deadline);
  WriteTransaction transaction(connection_);
  std::int64_t id;
  {
    StatementScope scope(next_id);
    if (!next_id.step()) connection_.fail("reading the counters");
    id = next_id.integer(0);
  }
  std::string headers;
  for (const auto& message : messages) {
    StatementScope scope(insert);
    insert.bind(1, id++)
        .bind_text(2, message.message_id)
        .bind_optional_text(3, message.correlation_id)
        .bind_optional_text(4, message.message_type)
        .bind(5, message.sent_time.time_since_epoch().count())
        .bind_blob(6, message.payload)
        .bind_optional_text(7, message.key);
    if (message.headers.empty()) {
      insert.bind_null(8);
    } else {
      headers = encode_headers(message.headers);
      insert.bind_blob(8, headers);
    }
    insert.step();
  }
  auto count = static_cast<std::int64_t>(messages.size());
  adjust_counters(count, 0, count);
  transaction.commit();
}

StoredEnvelope QueueStore::read_envelope(const Statement& row, int first) {
  StoredEnvelope stored;
  auto& envelope = stored.envelope;
  envelope.message_id = row.string(first);
  envelope.correlation_id = row.optional_string(first + 1);
  envelope.message_type = row.optional_string(first + 2);
  envelope.sent_time = TimePoint(Duration(row.integer(first + 3)));
  envelope.payload = row.string(first + 4);
  envelope.key = row.optional_string(first + 5);
  if (!row.is_null(first + 6)) envelope.headers = decode_headers(row.bytes(first + 6));
  stored.deliveries = row.integer(first + 7);
  return stored;
}

Counters QueueStore::adjust_counters(std::int64_t total, std::int64_t in_flight, std::int64_t next) {
  StatementScope scope(adjust);
  adjust.bind(1, total).bind(2, in_flight).bind(3, next);
  if (!adjust.step()) connection_.fail("updating the counters");
  return {adjust.integer(0), adjust.integer(1)};
}

Counters QueueStore::read_counters() {
  StatementScope scope(counters);
  if (!counters.step()) connection_.fail("reading the counters");
  return {counters.integer(0), counters.integer(1)};
}

std::int64_t QueueStore::data_version() {
  StatementScope scope(version);
  return version.step() ? version.integer(0) : 0;
}

std::int64_t QueueStore::free_pages() {
  StatementScope scope(freelist);
  return freelist.step() ? freelist.integer(0) : 0;
}

// Each header: name length, name, value length, value; lengths 32-bit little
// endian. Bytes, not JSON: header values need not be UTF-8.
std::string encode_headers(const std::vector<Header>& headers) {
  std::string out;
  for (const auto& header : headers) {
    put_u32(out, header.name.size());
    out += header.name;
    put_u32(out, header.value.size());
    out += header.value;
  }
  return out;
}

std::vector<Header> decode_headers(std::string_view in) {
  std::vector<Header> headers;
  std::size_t size;
  while (!in.empty()) {
    Header header;
    if (!take_u32(in, size) || size > in.size()) break;
    header.name = in.substr(0, size);
    in.remove_prefix(size);
    if (!take_u32(in, size) || size > in.size()) break;
    header.value = in.substr(0, size);
    in.remove_prefix(size);
    headers.push_back(std::move(header));
  }
  return headers;
}

}  // namespace mq::memory
