#pragma once
// SqliteStore: the blocking, durable half of the cloud spool. One SQLite database in WAL mode,
// one table `spool(seq INTEGER PRIMARY KEY, topic TEXT, payload BLOB)`. Writes come as batches
// (group commit): every batch is one transaction, so a crash leaves either all or none of it.
//
// Durability (documented in src/spool/README.md):
//   sync = kNormal  synchronous=NORMAL: a committed batch survives a process crash (kill -9);
//                   a power loss may roll back the last batches (WAL not yet fsynced).
//   sync = kFull    synchronous=FULL: a committed batch survives a power loss too (fsync each).
//
// Corruption: open() runs PRAGMA quick_check; a file that is not a database, fails the check or
// has a foreign schema is renamed to <path>.corrupt-<unix-seconds> (with its -wal) and a fresh
// store is created; moved_aside() names the file. Nothing is ever deleted.
//
// Thread safety: none; the Spool uses it from its single pool thread only.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace evg::spool {

struct StoredMessage {
  uint64_t seq = 0;
  std::string topic;
  std::shared_ptr<const std::string> payload;
};

struct StoreBatch {
  std::vector<StoredMessage> inserts;  // applied first
  std::vector<uint64_t> deletes;       // then these (acked or dropped) seqs
  bool empty() const { return inserts.empty() && deletes.empty(); }
  size_t size() const { return inserts.size() + deletes.size(); }
};

enum class SyncMode { kNormal, kFull };

class SqliteStore {
 public:
  ~SqliteStore();
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Opens (creating parent directories and the file as needed). A corrupt file is moved aside
  // and replaced by a fresh store (see moved_aside()); other failures are an Io error.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path, SyncMode sync);

  // Every stored message in seq order.
  Result<std::vector<StoredMessage>> loadAll();
  // One transaction: inserts, then deletes.
  Status commit(const StoreBatch& batch);

  const std::string& path() const { return path_; }
  // Non-empty when open() found a corrupt store: where it was moved, and why.
  const std::string& moved_aside() const { return moved_aside_; }
  const std::string& corruption_reason() const { return corruption_reason_; }

 private:
  SqliteStore() = default;
  Status openOnce(SyncMode sync);
  Status exec(const char* sql);
  void close();

  std::string path_;
  std::string moved_aside_;
  std::string corruption_reason_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
};

}  // namespace evg::spool
