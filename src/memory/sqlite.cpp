#include "memory/sqlite.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <thread>

namespace mq::memory {

// --- Statement ---------------------------------------------------------------

Statement::Statement(Connection& connection, const char* sql) : connection_(connection) {
  int code = sqlite3_prepare_v3(connection.handle(), sql, -1, SQLITE_PREPARE_PERSISTENT, &statement_, nullptr);
  if (code != SQLITE_OK) connection.fail(fmt::format("preparing \"{}\"", sql), code);
}

Statement::~Statement() { sqlite3_finalize(statement_); }

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(statement_, index, value);
  return *this;
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(statement_, index);
  return *this;
}

Statement& Statement::bind_text(int index, std::string_view text) {
  // A non-null pointer even for "": a null one would store NULL.
  sqlite3_bind_text64(statement_, index, text.empty() ? "" : text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  if (bytes.empty())
    sqlite3_bind_zeroblob(statement_, index, 0);
  else
    sqlite3_bind_blob64(statement_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
  return *this;
}

Statement& Statement::bind_optional_text(int index, const std::optional<std::string>& text) {
  return text ? bind_text(index, *text) : bind_null(index);
}

bool Statement::step() {
  int code = sqlite3_step(statement_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  connection_.fail(fmt::format("running \"{}\"", sqlite3_sql(statement_)), code);
}

std::int64_t Statement::run() {
  StatementScope scope(*this);
  while (step()) {
  }
  return sqlite3_changes64(connection_.handle());
}

void Statement::reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

bool Statement::is_null(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(statement_, column); }

std::string_view Statement::bytes(int column) const {
  // sqlite3_column_blob before sqlite3_column_bytes, as the API asks.
  const void* data = sqlite3_column_blob(statement_, column);
  auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement_, column));
  return data ? std::string_view(static_cast<const char*>(data), size) : std::string_view();
}

std::optional<std::string> Statement::optional_string(int column) const {
  if (is_null(column)) return std::nullopt;
  return string(column);
}

// --- Connection --------------------------------------------------------------

Connection::Connection(std::string path) : path_(std::move(path)) {
  // Memory statistics cost a global mutex round trip per allocation; nobody
  // reads them. Only possible before SQLite's first use in the process.
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    // A connection's up-front page cache slab would be written through at
    // open: dozens of fresh pages for a one-shot command, where first touches
    // are dear. Pages allocated as needed cost nothing measurable on the long
    // paths. (The lookaside slab stays: sends are a third slower without it.)
    sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
    return true;
  }();
  (void)configured;
  // NOMUTEX: a connection is only ever used by one thread at a time.
  // NOFOLLOW: a symbolic link planted in the store directory is refused.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  int code = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
  if (code != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
    sqlite3_close(db_);
    db_ = nullptr;
    throw BrokerError(fmt::format("memory store {}: cannot open: {}", path_, why));
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_handler(db_, &Connection::on_busy, this);
}

Connection::~Connection() { sqlite3_close_v2(db_); }

void Connection::execute(const char* sql) {
  char* message = nullptr;
  int code = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (code == SQLITE_OK) return;
  sqlite3_free(message);
  fail(fmt::format("running \"{}\"", sql), code);
}

std::int64_t Connection::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }

bool Connection::lock_deadline_passed() const { return lock_deadline_ && SteadyClock::now() >= *lock_deadline_; }

int Connection::on_busy(void* self, int attempts) {
  auto& connection = *static_cast<Connection*>(self);
  auto now = SteadyClock::now();
  if (connection.lock_deadline_ && now >= *connection.lock_deadline_) return 0;
  // Locks are held for a few milliseconds at most: poll finely at first.
  std::chrono::microseconds pause = attempts < 20 ? std::chrono::microseconds(100)
                                    : attempts < 200 ? std::chrono::microseconds(1000)
                                                     : std::chrono::microseconds(5000);
  if (connection.lock_deadline_)
    pause = std::min(pause, std::chrono::duration_cast<std::chrono::microseconds>(*connection.lock_deadline_ - now) +
                                std::chrono::microseconds(1));
  std::this_thread::sleep_for(pause);
  return 1;
}

void Connection::fail(const std::string& doing, int code) const {
  std::string detail = db_ && sqlite3_errcode(db_) == code ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
    throw StoreBusy(fmt::format("memory store {} stayed locked by another process ({})", path_, detail));
  throw BrokerError(fmt::format("memory store {}: {}: {}", path_, doing, detail));
}

void Connection::fail(const std::string& doing) const { fail(doing, sqlite3_errcode(db_)); }

// --- Transactions ------------------------------------------------------------

WriteTransaction::WriteTransaction(Connection& connection) : connection_(connection) {
  connection_.execute("BEGIN IMMEDIATE");
}

WriteTransaction::~WriteTransaction() {
  if (open_) sqlite3_exec(connection_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void WriteTransaction::commit() {
  connection_.execute("COMMIT");
  open_ = false;
}

ReadTransaction::ReadTransaction(Connection& connection) : connection_(connection) {
  connection_.execute("BEGIN");
}

ReadTransaction::~ReadTransaction() { sqlite3_exec(connection_.handle(), "COMMIT", nullptr, nullptr, nullptr); }

}  // namespace mq::memory
