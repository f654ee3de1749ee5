#include "spool/sqlite_store.h"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <system_error>

#include "sqlite/sqlite_util.h"

namespace evg::spool {

namespace fs = std::filesystem;

SqliteStore::~SqliteStore() { close(); }

void SqliteStore::close() {
  if (insert_ != nullptr) sqlite3_finalize(insert_);
  if (delete_ != nullptr) sqlite3_finalize(delete_);
  insert_ = nullptr;
  delete_ = nullptr;
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

Status SqliteStore::exec(const char* sql) { return sqlite::exec(db_, sql); }

Status SqliteStore::openOnce(SyncMode sync) {
  int rc =
      sqlite3_open_v2(path_.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    return sqlite::isCorruptionCode(rc) ? Status::corruption(msg) : Status::io(msg);
  }
  sqlite3_busy_timeout(db_, 2000);
  EVG_RETURN_IF_ERROR(exec("PRAGMA journal_mode=WAL"));
  EVG_RETURN_IF_ERROR(
      exec(sync == SyncMode::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  // quick_check: O(N) over a store bounded by the spool size (2.5 MB by default).
  sqlite3_stmt* st = nullptr;
  rc = sqlite3_prepare_v2(db_, "PRAGMA quick_check", -1, &st, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db_);
    return sqlite::isCorruptionCode(rc) ? Status::corruption(msg) : Status::io(msg);
  }
  std::string verdict;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    verdict = t != nullptr ? reinterpret_cast<const char*>(t) : "";
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    std::string msg = sqlite3_errmsg(db_);
    return sqlite::isCorruptionCode(rc) ? Status::corruption(msg) : Status::io(msg);
  }
  if (verdict != "ok") return Status::corruption("quick_check: " + verdict);
  EVG_RETURN_IF_ERROR(
      exec("CREATE TABLE IF NOT EXISTS spool(seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
           "payload BLOB NOT NULL)"));
  rc = sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO spool(seq, topic, payload) VALUES(?,?,?)",
                          -1, &insert_, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db_, "DELETE FROM spool WHERE seq=?", -1, &delete_, nullptr);
  }
  if (rc != SQLITE_OK) {
    // A table named spool with other columns: not ours.
    return Status::corruption(std::string("unexpected schema: ") + sqlite3_errmsg(db_));
  }
  return Status::ok();
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path, SyncMode sync) {
  std::unique_ptr<SqliteStore> s(new SqliteStore());
  s->path_ = path;
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec)
    return Status::io(path + ": cannot create directory " + parent.string() + ": " + ec.message());
  Status st = s->openOnce(sync);
  if (st.code() == Code::kCorruption) {
    s->close();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    std::string aside = path + ".corrupt-" + std::to_string(secs);
    for (int i = 1; fs::exists(aside, ec); ++i) {
      aside = path + ".corrupt-" + std::to_string(secs) + "-" + std::to_string(i);
    }
    fs::rename(path, aside, ec);
    if (ec)
      return Status::io(path + ": corrupt (" + st.message() +
                        ") and cannot be moved aside: " + ec.message());
    if (fs::exists(path + "-wal", ec)) fs::rename(path + "-wal", aside + "-wal", ec);
    fs::remove(path + "-shm", ec);  // shared-memory index, rebuilt from the WAL
    s->moved_aside_ = aside;
    s->corruption_reason_ = st.message();
    st = s->openOnce(sync);
  }
  if (!st) return st.withContext(path + ": ");
  return s;
}

Result<std::vector<StoredMessage>> SqliteStore::loadAll() {
  std::vector<StoredMessage> out;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db_, "SELECT seq, topic, payload FROM spool ORDER BY seq", -1, &st,
                              nullptr);
  if (rc != SQLITE_OK) return Status::io(path_ + ": " + sqlite3_errmsg(db_));
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    StoredMessage m;
    m.seq = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
    const unsigned char* t = sqlite3_column_text(st, 1);
    m.topic = t != nullptr ? reinterpret_cast<const char*>(t) : "";
    const void* b = sqlite3_column_blob(st, 2);
    int n = sqlite3_column_bytes(st, 2);
    m.payload = std::make_shared<const std::string>(
        b != nullptr ? std::string(static_cast<const char*>(b), static_cast<size_t>(n))
                     : std::string());
    out.push_back(std::move(m));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Status::io(path_ + ": reading the spool: " + sqlite3_errmsg(db_));
  return out;
}

Status SqliteStore::commit(const StoreBatch& batch) {
  if (batch.empty()) return Status::ok();
  EVG_RETURN_IF_ERROR(exec("BEGIN"));
  auto fail = [&](const char* what) {
    Status s = Status::io(path_ + ": " + what + ": " + sqlite3_errmsg(db_));
    (void)exec("ROLLBACK");
    return s;
  };
  for (const auto& m : batch.inserts) {
    sqlite3_reset(insert_);
    sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(m.seq));
    sqlite3_bind_text(insert_, 2, m.topic.data(), static_cast<int>(m.topic.size()), SQLITE_STATIC);
    static const char kEmpty[1] = {0};
    const char* data = m.payload ? m.payload->data() : kEmpty;
    size_t size = m.payload ? m.payload->size() : 0;
    sqlite3_bind_blob(insert_, 3, data, static_cast<int>(size), SQLITE_STATIC);
    if (sqlite3_step(insert_) != SQLITE_DONE) return fail("insert");
  }
  for (uint64_t seq : batch.deletes) {
    sqlite3_reset(delete_);
    sqlite3_bind_int64(delete_, 1, static_cast<sqlite3_int64>(seq));
    if (sqlite3_step(delete_) != SQLITE_DONE) return fail("delete");
  }
  sqlite3_reset(insert_);
  sqlite3_reset(delete_);
  Status c = exec("COMMIT");
  if (!c) (void)exec("ROLLBACK");
  return c;
}

}  // namespace evg::spool
