#pragma once
// What every SQLite user of the core (broker persistence, cloud spool) shares: mapping SQLite
// result codes to Status, so that a damaged file is reported as Corruption everywhere.

#include <sqlite3.h>

#include <cstddef>
#include <string>

#include "base/status.h"

namespace evg::sqlite {

// SQLITE_CORRUPT / SQLITE_NOTADB (any extended code of them): the file is damaged or not ours.
bool isCorruptionCode(int rc);

// sqlite3_exec of `sql` (no rows expected). Errors name the statement — its first
// `sql_chars_in_message` characters — and SQLite's message; Corruption for a damaged file, else Io.
Status exec(sqlite3* db, const char* sql, size_t sql_chars_in_message = std::string::npos);

}  // namespace evg::sqlite
