#pragma once
// Durable storage of shadows and their cloud-sync state.
//
// ShadowStore is the seam: SqliteShadowStore (production, one SQLite file in WAL mode) and
// MemoryShadowStore (tests). Each call is one transaction, committed before it returns: the
// shadow service acknowledges an update only after save() returned OK, so an acknowledged update
// survives `kill -9` of the core.
//
// Cost and durability (SqliteShadowStore): commits are synchronous on the caller's thread (the
// event loop). With the default `synchronous=NORMAL` in WAL mode a commit is a write() into the
// WAL without fsync (tens of microseconds): durable against a crash or kill of the process, the
// last commits may be lost on power failure. `SqliteOptions::full_sync = true` (config
// "evergreen.shadow.fullSync") fsyncs the WAL on every commit (power-loss safe, ~1-10 ms on
// typical flash/disks). Measured figures: docs/performance.md, section "Shadows".
//
// Threading: not thread-safe; one owner thread.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace evg::shadow {

// One thing's row. `document` empty = no shadow (deleted or never created); `version` survives
// deletes. `sync` is the opaque cloud-sync state (JSON text, empty when the thing is not synced).
struct StoredShadow {
  int64_t version = 0;
  std::string document;  // JSON text of the stored document, empty when none
  std::string sync;
};

class ShadowStore {
 public:
  virtual ~ShadowStore() = default;
  // nullopt when the thing has no row. Errors: Io / Corruption.
  virtual Result<std::optional<StoredShadow>> load(const std::string& thing) = 0;
  // Inserts or replaces the row, durably (see the header comment).
  virtual Status save(const std::string& thing, const StoredShadow& row) = 0;
  // Thing names with a row.
  virtual Result<std::vector<std::string>> things() = 0;
  // Removes every row (`evergreen reset`), durably. Versions restart at 0.
  virtual Status clear() = 0;
};

class MemoryShadowStore final : public ShadowStore {
 public:
  Result<std::optional<StoredShadow>> load(const std::string& thing) override;
  Status save(const std::string& thing, const StoredShadow& row) override;
  Result<std::vector<std::string>> things() override;
  Status clear() override;
  // Test hook: make the next save fail with Io.
  void failNextSaveForTest() { fail_next_ = true; }
  size_t saves() const { return saves_; }

 private:
  std::map<std::string, StoredShadow> rows_;
  bool fail_next_ = false;
  size_t saves_ = 0;
};

struct SqliteOptions {
  bool full_sync = false;  // PRAGMA synchronous=FULL (fsync per commit) instead of NORMAL
  int busy_timeout_ms = 2000;
};

class SqliteShadowStore final : public ShadowStore {
 public:
  // Opens or creates `path` (parent directories are created), WAL mode, schema version 1.
  static Result<std::unique_ptr<SqliteShadowStore>> open(const std::string& path,
                                                         SqliteOptions opts = {});
  ~SqliteShadowStore() override;
  SqliteShadowStore(const SqliteShadowStore&) = delete;
  SqliteShadowStore& operator=(const SqliteShadowStore&) = delete;

  Result<std::optional<StoredShadow>> load(const std::string& thing) override;
  Status save(const std::string& thing, const StoredShadow& row) override;
  Result<std::vector<std::string>> things() override;
  Status clear() override;

 private:
  SqliteShadowStore() = default;
  Status error(const char* what) const;
  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* load_ = nullptr;
  sqlite3_stmt* save_ = nullptr;
};

}  // namespace evg::shadow
