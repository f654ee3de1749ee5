#include "sqlite/sqlite_util.h"

namespace evg::sqlite {

bool isCorruptionCode(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

Status exec(sqlite3* db, const char* sql, size_t sql_chars_in_message) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::ok();
  std::string msg = std::string(sql).substr(0, sql_chars_in_message) + ": " +
                    (err != nullptr ? err : sqlite3_errstr(rc));
  sqlite3_free(err);
  if (isCorruptionCode(rc)) return Status::corruption(msg);
  return Status::io(msg);
}

}  // namespace evg::sqlite
