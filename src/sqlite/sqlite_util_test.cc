#include "sqlite/sqlite_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace evg::sqlite {
namespace {

TEST(SqliteUtil, CorruptionCodesIncludeExtendedOnes) {
  EXPECT_TRUE(isCorruptionCode(SQLITE_CORRUPT));
  EXPECT_TRUE(isCorruptionCode(SQLITE_NOTADB));
  EXPECT_TRUE(isCorruptionCode(SQLITE_CORRUPT_VTAB));
  EXPECT_FALSE(isCorruptionCode(SQLITE_IOERR));
  EXPECT_FALSE(isCorruptionCode(SQLITE_OK));
}

TEST(SqliteUtil, ExecNamesTheStatementAndMapsErrors) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  EXPECT_TRUE(exec(db, "CREATE TABLE t(a INTEGER)").isOk());
  Status s = exec(db, "INSERT INTO missing VALUES(1)");
  EXPECT_EQ(s.code(), Code::kIo);
  EXPECT_NE(s.message().find("INSERT INTO missing VALUES(1): no such table: missing"),
            std::string::npos)
      << s.message();
  Status cut = exec(db, "INSERT INTO missing VALUES(1)", 6);
  EXPECT_EQ(cut.message().rfind("INSERT: ", 0), 0u) << cut.message();
  sqlite3_close(db);
}

TEST(SqliteUtil, NotADatabaseIsCorruption) {
  char path[] = "/tmp/evg-sqlite-util-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string junk(4096, 'x');
  ASSERT_EQ(write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  close(fd);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
  EXPECT_EQ(exec(db, "PRAGMA quick_check").code(), Code::kCorruption);
  sqlite3_close(db);
  std::remove(path);
}

}  // namespace
}  // namespace evg::sqlite
