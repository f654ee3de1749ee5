#include "shadow/shadow_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace evg::shadow {

// ------------------------------------------------------------------ MemoryShadowStore

Result<std::optional<StoredShadow>> MemoryShadowStore::load(const std::string& thing) {
  auto it = rows_.find(thing);
  if (it == rows_.end()) return std::optional<StoredShadow>();
  return std::optional<StoredShadow>(it->second);
}

Status MemoryShadowStore::save(const std::string& thing, const StoredShadow& row) {
  if (fail_next_) {
    fail_next_ = false;
    return Status::io("injected save failure");
  }
  ++saves_;
  rows_[thing] = row;
  return Status::ok();
}

Result<std::vector<std::string>> MemoryShadowStore::things() {
  std::vector<std::string> out;
  for (const auto& [k, v] : rows_) out.push_back(k);
  return out;
}

Status MemoryShadowStore::clear() {
  rows_.clear();
  return Status::ok();
}

// ------------------------------------------------------------------ SqliteShadowStore

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS shadows ("
    "  thing TEXT PRIMARY KEY NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  document TEXT NOT NULL DEFAULT '',"
    "  sync TEXT NOT NULL DEFAULT '');";

}  // namespace

Status SqliteShadowStore::error(const char* what) const {
  return Status::io(path_ + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "no database"));
}

Result<std::unique_ptr<SqliteShadowStore>> SqliteShadowStore::open(const std::string& path,
                                                                   SqliteOptions opts) {
  std::unique_ptr<SqliteShadowStore> s(new SqliteShadowStore());
  s->path_ = path;
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return Status::io("cannot create " + parent.string() + ": " + ec.message());
  // Shadows hold device state: owner-only (0600). SQLite creates the -wal/-shm files with the
  // database file's mode, so the file is created (or an older 0644 one narrowed) first.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::io("cannot open " + path + ": " + std::strerror(errno));
  if (::fchmod(fd, 0600) != 0) {
    int e = errno;
    ::close(fd);
    return Status::io("cannot chmod 0600 " + path + ": " + std::strerror(e));
  }
  ::close(fd);
  for (const char* suffix : {"-wal", "-shm"}) ::chmod((path + suffix).c_str(), 0600);
  if (sqlite3_open_v2(path.c_str(), &s->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return s->error("open");
  }
  sqlite3_busy_timeout(s->db_, opts.busy_timeout_ms);
  std::string pragmas = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                        (opts.full_sync ? "FULL;" : "NORMAL;");
  char* msg = nullptr;
  for (const std::string& sql : {pragmas, std::string(kSchema)}) {
    if (sqlite3_exec(s->db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string m = msg ? msg : "unknown";
      sqlite3_free(msg);
      return Status::corruption(path + ": " + m);
    }
  }
  // Schema version: 1. A newer file is refused rather than misread.
  sqlite3_stmt* v = nullptr;
  if (sqlite3_prepare_v2(s->db_, "SELECT version FROM schema_version LIMIT 1", -1, &v, nullptr) !=
      SQLITE_OK) {
    return s->error("schema_version");
  }
  int rc = sqlite3_step(v);
  int64_t version = rc == SQLITE_ROW ? sqlite3_column_int64(v, 0) : 0;
  sqlite3_finalize(v);
  if (rc == SQLITE_DONE) {
    if (sqlite3_exec(s->db_, "INSERT INTO schema_version VALUES (1)", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      return s->error("schema_version insert");
    }
  } else if (version != 1) {
    return Status::corruption(path + ": unsupported shadow store schema version " +
                              std::to_string(version) + " (this build reads 1)");
  }
  if (sqlite3_prepare_v2(s->db_, "SELECT version, document, sync FROM shadows WHERE thing = ?", -1,
                         &s->load_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db_,
                         "INSERT OR REPLACE INTO shadows (thing, version, document, sync) "
                         "VALUES (?, ?, ?, ?)",
                         -1, &s->save_, nullptr) != SQLITE_OK) {
    return s->error("prepare");
  }
  return s;
}

SqliteShadowStore::~SqliteShadowStore() {
  sqlite3_finalize(load_);
  sqlite3_finalize(save_);
  if (db_) sqlite3_close(db_);
}

Result<std::optional<StoredShadow>> SqliteShadowStore::load(const std::string& thing) {
  sqlite3_reset(load_);
  sqlite3_bind_text(load_, 1, thing.data(), static_cast<int>(thing.size()), SQLITE_TRANSIENT);
  int rc = sqlite3_step(load_);
  if (rc == SQLITE_DONE) return std::optional<StoredShadow>();
  if (rc != SQLITE_ROW) return error("load");
  StoredShadow row;
  row.version = sqlite3_column_int64(load_, 0);
  auto text = [&](int col) {
    const unsigned char* p = sqlite3_column_text(load_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(load_, col)))
             : std::string();
  };
  row.document = text(1);
  row.sync = text(2);
  sqlite3_reset(load_);
  return std::optional<StoredShadow>(std::move(row));
}

Status SqliteShadowStore::save(const std::string& thing, const StoredShadow& row) {
  sqlite3_reset(save_);
  sqlite3_bind_text(save_, 1, thing.data(), static_cast<int>(thing.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(save_, 2, row.version);
  sqlite3_bind_text(save_, 3, row.document.data(), static_cast<int>(row.document.size()),
                    SQLITE_TRANSIENT);
  sqlite3_bind_text(save_, 4, row.sync.data(), static_cast<int>(row.sync.size()), SQLITE_TRANSIENT);
  int rc = sqlite3_step(save_);
  sqlite3_reset(save_);
  if (rc != SQLITE_DONE) return error("save");
  return Status::ok();
}

Result<std::vector<std::string>> SqliteShadowStore::things() {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT thing FROM shadows ORDER BY thing", -1, &st, nullptr) !=
      SQLITE_OK) {
    return error("list");
  }
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  }
  sqlite3_finalize(st);
  return out;
}

Status SqliteShadowStore::clear() {
  if (sqlite3_exec(db_, "DELETE FROM shadows", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return error("clear");
  }
  return Status::ok();
}

}  // namespace evg::shadow
