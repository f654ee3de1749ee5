#include "spool/spool.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace evg::spool {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const std::string> P(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("evg_spool_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  SpoolOptions fsOpts() {
    SpoolOptions o;
    o.storage = StorageType::kFileSystem;
    o.path = (dir_ / "spool.db").string();
    o.max_size_bytes = kMinMaxSizeBytes;
    o.flush_interval_ms = 1;
    return o;
  }
  void flushAndWait(Spool& s) {
    bool done = false;
    s.flush([&] { done = true; });
    io_.restart();
    while (!done) io_.run_one();
  }
  fs::path dir_;
  boost::asio::io_context io_;
};

TEST(StorageType, ParsesV1Names) {
  EXPECT_EQ(*parseStorageType("Memory"), StorageType::kMemory);
  EXPECT_EQ(*parseStorageType("FileSystem"), StorageType::kFileSystem);
  auto bad = parseStorageType("Disk");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("\"Disk\""), std::string::npos);
}

TEST_F(SpoolTest, FifoDrainAckAndRewind) {
  SpoolOptions o;
  o.storage = StorageType::kMemory;
  Spool s(io_, o, Log());
  ASSERT_TRUE(s.open());
  uint64_t a = s.append("t/a", P("1"));
  uint64_t b = s.append("t/b", P("2"));
  uint64_t c = s.append("t/a", P("3"));
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  ASSERT_NE(s.nextUnsent(), nullptr);
  EXPECT_EQ(s.nextUnsent()->seq, a);
  s.markSent(a);
  s.markSent(b);
  EXPECT_EQ(s.nextUnsent()->seq, c);
  EXPECT_EQ(s.unsent(), 1u);
  EXPECT_TRUE(s.ack(a));
  EXPECT_FALSE(s.ack(a));  // already gone
  // Reconnect: b (sent, unacked) goes out again before c.
  EXPECT_EQ(s.rewind(), 1u);
  EXPECT_EQ(s.nextUnsent()->seq, b);
  EXPECT_EQ(s.stats().queued, 2u);
  EXPECT_EQ(s.stats().acked, 1u);
}

TEST_F(SpoolTest, OldestAgeFollowsTheHeadOfTheQueue) {
  SpoolOptions o;
  o.storage = StorageType::kMemory;
  Spool s(io_, o, Log());
  ASSERT_TRUE(s.open());
  EXPECT_EQ(s.oldestAgeSeconds(), 0.0);
  uint64_t a = s.append("t/a", P("1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  uint64_t b = s.append("t/b", P("2"));
  EXPECT_GE(s.oldestAgeSeconds(), 0.05);
  s.markSent(a);
  s.markSent(b);
  EXPECT_TRUE(s.ack(a));
  EXPECT_LT(s.oldestAgeSeconds(), 0.05);  // now b's age
  EXPECT_TRUE(s.ack(b));
  EXPECT_EQ(s.oldestAgeSeconds(), 0.0);
}

TEST_F(SpoolTest, FullDropsOldestAndCounts) {
  SpoolOptions o;
  o.storage = StorageType::kMemory;
  o.max_size_bytes = 100;
  Spool s(io_, o, Log());
  ASSERT_TRUE(s.open());
  for (int i = 0; i < 20; ++i) s.append("t", P(std::string(9, 'x')));  // 10 bytes each
  EXPECT_EQ(s.stats().queued, 10u);
  EXPECT_EQ(s.stats().bytes, 100u);
  EXPECT_EQ(s.stats().dropped_oldest, 10u);
  EXPECT_EQ(s.nextUnsent()->seq, 11u);  // the newest ten remain
  EXPECT_EQ(s.append("t", P(std::string(200, 'y'))), 0u);
  EXPECT_EQ(s.stats().dropped_too_large, 1u);
  s.setMaxSizeBytes(50);
  EXPECT_EQ(s.stats().queued, 5u);
  EXPECT_EQ(s.stats().dropped_oldest, 15u);
}

TEST_F(SpoolTest, FileSystemSurvivesReopenWithoutAcked) {
  {
    Spool s(io_, fsOpts(), Log());
    ASSERT_TRUE(s.open());
    for (int i = 0; i < 50; ++i) s.append("t/" + std::to_string(i % 3), P("m" + std::to_string(i)));
    s.markSent(1);
    s.markSent(2);
    EXPECT_TRUE(s.ack(1));
    EXPECT_TRUE(s.ack(2));
    flushAndWait(s);
    EXPECT_EQ(s.stats().persisted_seq, 50u);
  }
  Spool s(io_, fsOpts(), Log());
  ASSERT_TRUE(s.open());
  EXPECT_EQ(s.stats().loaded, 48u);
  EXPECT_EQ(s.nextUnsent()->seq, 3u);
  EXPECT_EQ(*s.nextUnsent()->payload, "m2");
  EXPECT_EQ(s.nextUnsent()->topic, "t/2");
  // New appends continue after the restored seqs.
  EXPECT_EQ(s.append("t/x", P("new")), 51u);
}

TEST_F(SpoolTest, GroupCommitPersistsWithinInterval) {
  Spool s(io_, fsOpts(), Log());
  ASSERT_TRUE(s.open());
  for (int i = 0; i < 1000; ++i) s.append("t", P(std::string(256, 'p')));
  EXPECT_EQ(s.stats().persisted_seq, 0u);  // nothing committed on the loop itself
  io_.restart();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (s.stats().persisted_seq < 1000 && std::chrono::steady_clock::now() < deadline) {
    io_.run_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(s.stats().persisted_seq, 1000u);
  EXPECT_GE(s.stats().commits, 1u);
  EXPECT_LT(s.stats().commits, 1000u);  // batched, not one per message
}

TEST_F(SpoolTest, DroppedOldestAreDeletedOnDisk) {
  auto o = fsOpts();
  {
    Spool s(io_, o, Log());
    ASSERT_TRUE(s.open());
    for (int i = 0; i < 2000; ++i) s.append("t", P(std::string(255, 'a')));  // 256 B each
    flushAndWait(s);
    EXPECT_EQ(s.stats().queued, 1024u);
    EXPECT_EQ(s.stats().dropped_oldest, 2000u - 1024u);
  }
  Spool s(io_, o, Log());
  ASSERT_TRUE(s.open());
  EXPECT_EQ(s.stats().loaded, 1024u);
  EXPECT_EQ(s.nextUnsent()->seq, 2000u - 1024u + 1u);
}

TEST_F(SpoolTest, CorruptStoreMovedAsideNotDeleted) {
  auto o = fsOpts();
  {
    std::ofstream f(o.path, std::ios::binary);
    f << std::string(8192, '\x5a');
  }
  Spool s(io_, o, Log());
  ASSERT_TRUE(s.open());
  ASSERT_FALSE(s.stats().moved_aside.empty());
  EXPECT_TRUE(fs::exists(s.stats().moved_aside));
  EXPECT_EQ(fs::file_size(s.stats().moved_aside), 8192u);
  EXPECT_EQ(s.stats().queued, 0u);
  // The fresh store works.
  s.append("t", P("x"));
  flushAndWait(s);
  EXPECT_EQ(s.stats().persisted_seq, 1u);
}

TEST_F(SpoolTest, ForeignSchemaIsTreatedAsCorrupt) {
  auto o = fsOpts();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE spool(x INTEGER)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Spool s(io_, o, Log());
  ASSERT_TRUE(s.open());
  EXPECT_FALSE(s.stats().moved_aside.empty());
}

TEST_F(SpoolTest, UnwritableDirectoryIsAnIoError) {
  auto o = fsOpts();
  { std::ofstream f(dir_ / "file"); }
  o.path = (dir_ / "file" / "spool.db").string();
  Spool s(io_, o, Log());
  Status st = s.open();
  EXPECT_FALSE(st);
  EXPECT_EQ(st.code(), Code::kIo);
  EXPECT_NE(st.message().find("spool.db"), std::string::npos);
}

}  // namespace
}  // namespace evg::spool
