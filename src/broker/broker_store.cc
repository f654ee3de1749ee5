#include "broker/broker_store.h"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <system_error>

#include "sqlite/sqlite_util.h"

namespace evg::broker {

namespace fs = std::filesystem;

namespace {

std::string columnText(sqlite3_stmt* st, int i) {
  const unsigned char* t = sqlite3_column_text(st, i);
  return t != nullptr ? std::string(reinterpret_cast<const char*>(t),
                                    static_cast<size_t>(sqlite3_column_bytes(st, i)))
                      : std::string();
}

std::shared_ptr<const std::string> columnBlob(sqlite3_stmt* st, int i) {
  const void* b = sqlite3_column_blob(st, i);
  int n = sqlite3_column_bytes(st, i);
  return std::make_shared<const std::string>(
      b != nullptr ? std::string(static_cast<const char*>(b), static_cast<size_t>(n))
                   : std::string());
}

void bindText(sqlite3_stmt* st, int i, const std::string& s) {
  sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}

void bindBlob(sqlite3_stmt* st, int i, const std::shared_ptr<const std::string>& p) {
  static const char kEmpty[1] = {0};
  sqlite3_bind_blob(st, i, p ? p->data() : kEmpty, p ? static_cast<int>(p->size()) : 0,
                    SQLITE_STATIC);
}

const char* const kSchema =
    "CREATE TABLE IF NOT EXISTS sessions(client_id TEXT PRIMARY KEY, identity TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS subscriptions(client_id TEXT NOT NULL, filter TEXT NOT NULL, "
    "qos INTEGER NOT NULL, PRIMARY KEY(client_id, filter));"
    "CREATE TABLE IF NOT EXISTS messages(seq INTEGER PRIMARY KEY, client_id TEXT NOT NULL, "
    "topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, "
    "packet_id INTEGER NOT NULL, awaiting_comp INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS messages_by_client ON messages(client_id);"
    "CREATE TABLE IF NOT EXISTS retained(topic TEXT PRIMARY KEY, payload BLOB NOT NULL, "
    "qos INTEGER NOT NULL, source TEXT NOT NULL);";

}  // namespace

BrokerStore::~BrokerStore() { close(); }

void BrokerStore::close() {
  for (auto*& st : stmts_) {
    if (st != nullptr) sqlite3_finalize(st);
    st = nullptr;
  }
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

Status BrokerStore::exec(const char* sql) { return sqlite::exec(db_, sql, 60); }

Status BrokerStore::prepare(const char* sql, sqlite3_stmt** st) {
  int rc = sqlite3_prepare_v2(db_, sql, -1, st, nullptr);
  if (rc == SQLITE_OK) return Status::ok();
  // A table of ours with other columns: not our file.
  return Status::corruption(std::string("unexpected schema (") + sql + "): " + sqlite3_errmsg(db_));
}

Status BrokerStore::openOnce() {
  int rc =
      sqlite3_open_v2(path_.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    return sqlite::isCorruptionCode(rc) ? Status::corruption(msg) : Status::io(msg);
  }
  sqlite3_busy_timeout(db_, 2000);
  EVG_RETURN_IF_ERROR(exec("PRAGMA journal_mode=WAL"));
  EVG_RETURN_IF_ERROR(exec("PRAGMA synchronous=NORMAL"));
  sqlite3_stmt* st = nullptr;
  EVG_RETURN_IF_ERROR(prepare("PRAGMA quick_check", &st));
  std::string verdict;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) verdict = columnText(st, 0);
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    std::string msg = sqlite3_errmsg(db_);
    return sqlite::isCorruptionCode(rc) ? Status::corruption(msg) : Status::io(msg);
  }
  if (verdict != "ok") return Status::corruption("quick_check: " + verdict);
  EVG_RETURN_IF_ERROR(exec(kSchema));
  const char* sql[kStmtCount] = {
      "INSERT OR REPLACE INTO sessions(client_id, identity) VALUES(?,?)",
      "DELETE FROM sessions WHERE client_id=?",
      "DELETE FROM subscriptions WHERE client_id=?",
      "DELETE FROM messages WHERE client_id=?",
      "INSERT OR REPLACE INTO subscriptions(client_id, filter, qos) VALUES(?,?,?)",
      "DELETE FROM subscriptions WHERE client_id=? AND filter=?",
      "INSERT OR REPLACE INTO messages(seq, client_id, topic, payload, qos, retain, packet_id, "
      "awaiting_comp) VALUES(?,?,?,?,?,?,?,?)",
      "UPDATE messages SET packet_id=?, awaiting_comp=? WHERE seq=?",
      "DELETE FROM messages WHERE seq=?",
      "INSERT OR REPLACE INTO retained(topic, payload, qos, source) VALUES(?,?,?,?)",
      "DELETE FROM retained WHERE topic=?",
  };
  for (int i = 0; i < kStmtCount; ++i) EVG_RETURN_IF_ERROR(prepare(sql[i], &stmts_[i]));
  return Status::ok();
}

Result<std::unique_ptr<BrokerStore>> BrokerStore::open(const std::string& path) {
  std::unique_ptr<BrokerStore> s(new BrokerStore());
  s->path_ = path;
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) {
    return Status::io(path + ": cannot create directory " + parent.string() + ": " + ec.message());
  }
  Status st = s->openOnce();
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
    if (ec) {
      return Status::io(path + ": corrupt (" + st.message() +
                        ") and cannot be moved aside: " + ec.message());
    }
    if (fs::exists(path + "-wal", ec)) fs::rename(path + "-wal", aside + "-wal", ec);
    fs::remove(path + "-shm", ec);
    s->moved_aside_ = aside + " (" + st.message() + ")";
    st = s->openOnce();
  }
  if (!st) return st.withContext(path + ": ");
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, ec);  // 0600
  return s;
}

Result<RestoredState> BrokerStore::load() {
  RestoredState out;
  std::map<std::string, size_t> index;  // client id -> out.sessions position
  auto query = [&](const char* sql, auto&& row) -> Status {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) {
      return Status::io(path_ + ": " + sqlite3_errmsg(db_));
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return Status::io(path_ + ": reading: " + sqlite3_errmsg(db_));
    return Status::ok();
  };
  EVG_RETURN_IF_ERROR(
      query("SELECT client_id, identity FROM sessions ORDER BY client_id", [&](sqlite3_stmt* st) {
        index[columnText(st, 0)] = out.sessions.size();
        out.sessions.push_back(RestoredSession{columnText(st, 0), columnText(st, 1), {}, {}});
      }));
  EVG_RETURN_IF_ERROR(
      query("SELECT client_id, filter, qos FROM subscriptions", [&](sqlite3_stmt* st) {
        auto it = index.find(columnText(st, 0));
        if (it == index.end()) return;
        out.sessions[it->second].subscriptions.emplace_back(
            columnText(st, 1), static_cast<uint8_t>(sqlite3_column_int(st, 2)));
      }));
  EVG_RETURN_IF_ERROR(query(
      "SELECT seq, client_id, topic, payload, qos, retain, packet_id, awaiting_comp FROM messages "
      "ORDER BY seq",
      [&](sqlite3_stmt* st) {
        auto it = index.find(columnText(st, 1));
        if (it == index.end()) return;
        RestoredMessage m;
        m.seq = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
        m.topic = columnText(st, 2);
        m.payload = columnBlob(st, 3);
        m.qos = static_cast<uint8_t>(sqlite3_column_int(st, 4));
        m.retain = sqlite3_column_int(st, 5) != 0;
        m.packet_id = static_cast<uint16_t>(sqlite3_column_int(st, 6));
        m.awaiting_comp = sqlite3_column_int(st, 7) != 0;
        out.sessions[it->second].messages.push_back(std::move(m));
      }));
  EVG_RETURN_IF_ERROR(query(
      "SELECT topic, payload, qos, source FROM retained ORDER BY topic", [&](sqlite3_stmt* st) {
        out.retained.push_back(RestoredRetained{columnText(st, 0), columnBlob(st, 1),
                                                static_cast<uint8_t>(sqlite3_column_int(st, 2)),
                                                columnText(st, 3)});
      }));
  return out;
}

Status BrokerStore::commit(const std::vector<PersistOp>& ops) {
  EVG_RETURN_IF_ERROR(exec("BEGIN"));
  for (const PersistOp& op : ops) {
    if (op.cancelled) continue;
    auto run = [&](Stmt which, auto&& bind) -> bool {
      sqlite3_stmt* st = stmts_[which];
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      bind(st);
      bool ok = sqlite3_step(st) == SQLITE_DONE;
      sqlite3_reset(st);
      return ok;
    };
    bool ok = true;
    switch (op.kind) {
      case PersistOp::Kind::kSessionSave:
        ok = run(kSessionSave, [&](sqlite3_stmt* st) {
          bindText(st, 1, op.client_id);
          bindText(st, 2, op.identity);
        });
        break;
      case PersistOp::Kind::kSessionDelete:
        for (Stmt w : {kSessionDelete, kSessionSubsDelete, kSessionMsgsDelete}) {
          ok = ok && run(w, [&](sqlite3_stmt* st) { bindText(st, 1, op.client_id); });
        }
        break;
      case PersistOp::Kind::kSubscribe:
        ok = run(kSubscribe, [&](sqlite3_stmt* st) {
          bindText(st, 1, op.client_id);
          bindText(st, 2, op.text);
          sqlite3_bind_int(st, 3, op.qos);
        });
        break;
      case PersistOp::Kind::kUnsubscribe:
        ok = run(kUnsubscribe, [&](sqlite3_stmt* st) {
          bindText(st, 1, op.client_id);
          bindText(st, 2, op.text);
        });
        break;
      case PersistOp::Kind::kMessageAdd:
        ok = run(kMessageAdd, [&](sqlite3_stmt* st) {
          sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(op.seq));
          bindText(st, 2, op.client_id);
          bindText(st, 3, op.text);
          bindBlob(st, 4, op.payload);
          sqlite3_bind_int(st, 5, op.qos);
          sqlite3_bind_int(st, 6, op.retain ? 1 : 0);
          sqlite3_bind_int(st, 7, op.packet_id);
          sqlite3_bind_int(st, 8, op.awaiting_comp ? 1 : 0);
        });
        break;
      case PersistOp::Kind::kMessageState:
        ok = run(kMessageState, [&](sqlite3_stmt* st) {
          sqlite3_bind_int(st, 1, op.packet_id);
          sqlite3_bind_int(st, 2, op.awaiting_comp ? 1 : 0);
          sqlite3_bind_int64(st, 3, static_cast<sqlite3_int64>(op.seq));
        });
        break;
      case PersistOp::Kind::kMessageDelete:
        ok = run(kMessageDelete, [&](sqlite3_stmt* st) {
          sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(op.seq));
        });
        break;
      case PersistOp::Kind::kRetainedSet:
        ok = run(kRetainedSet, [&](sqlite3_stmt* st) {
          bindText(st, 1, op.text);
          bindBlob(st, 2, op.payload);
          sqlite3_bind_int(st, 3, op.qos);
          bindText(st, 4, op.identity);
        });
        break;
      case PersistOp::Kind::kRetainedDelete:
        ok = run(kRetainedDelete, [&](sqlite3_stmt* st) { bindText(st, 1, op.text); });
        break;
    }
    if (!ok) {
      Status s = Status::io(path_ + ": writing: " + sqlite3_errmsg(db_));
      (void)exec("ROLLBACK");
      return s;
    }
  }
  Status c = exec("COMMIT");
  if (!c) (void)exec("ROLLBACK");
  return c;
}

}  // namespace evg::broker
