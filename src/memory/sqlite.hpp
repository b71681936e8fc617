#pragma once
// A thin layer over the SQLite C API for the memory backend: connections
// whose lock waits end at a deadline, reusable prepared statements, and
// write transactions that roll back unless committed. Every failure becomes
// an mq::BrokerError naming the store file.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mq/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace mq::memory {

using SteadyClock = std::chrono::steady_clock;

class Connection;

class Statement {
 public:
  Statement(Connection& connection, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind_null(int index);
  Statement& bind_text(int index, std::string_view text);
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind_optional_text(int index, const std::optional<std::string>& text);

  // True while there is a row to read; false when done.
  bool step();
  // Runs a statement that returns no rows; returns the rows it changed.
  std::int64_t run();
  // Makes the statement ready to run again, bindings cleared.
  void reset();

  bool is_null(int column) const;
  std::int64_t integer(int column) const;
  // Text and blob columns alike, as bytes; valid until the next step or reset.
  std::string_view bytes(int column) const;
  std::string string(int column) const { return std::string(bytes(column)); }
  std::optional<std::string> optional_string(int column) const;

 private:
  Connection& connection_;
  sqlite3_stmt* statement_ = nullptr;
};

// Resets a statement when the scope ends, so no read stays open by accident.
class StatementScope {
 public:
  explicit StatementScope(Statement& statement) : statement_(statement) {}
  ~StatementScope() { statement_.reset(); }
  StatementScope(const StatementScope&) = delete;
  StatementScope& operator=(const StatementScope&) = delete;

 private:
  Statement& statement_;
};

// The store stayed locked by another connection until the deadline.
struct StoreBusy : BrokerError {
  explicit StoreBusy(const std::string& what) : BrokerError(what, true) {}
};

class Connection {
 public:
  explicit Connection(std::string path);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

  void execute(const char* sql);
  std::int64_t last_insert_id() const;
  // Waits for another connection's lock end at this point; nullopt waits forever.
  void set_lock_deadline(std::optional<SteadyClock::time_point> deadline) { lock_deadline_ = deadline; }
  bool lock_deadline_passed() const;

  [[noreturn]] void fail(const std::string& doing, int code) const;
  [[noreturn]] void fail(const std::string& doing) const;

 private:
  static int on_busy(void* self, int attempts);

  std::string path_;
  sqlite3* db_ = nullptr;
  std::optional<SteadyClock::time_point> lock_deadline_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when left without commit().
class WriteTransaction {
 public:
  explicit WriteTransaction(Connection& connection);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  void commit();

 private:
  Connection& connection_;
  bool open_ = true;
};

// A consistent snapshot for reading (BEGIN ... COMMIT).
class ReadTransaction {
 public:
  explicit ReadTransaction(Connection& connection);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Connection& connection_;
};

}  // namespace mq::memory
