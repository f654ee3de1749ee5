#include "streammgr/store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace evg::streammgr {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/evg_store_XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::unique_ptr<StreamStore> make() {
    StoreOptions o;
    o.root_dir = root_;
    o.now_ms = [this] { return now_; };
    auto s = std::make_unique<StreamStore>(o, Log());
    EXPECT_TRUE(s->open());
    return s;
  }
  static StreamDefinition def(const std::string& name, int64_t max = 268435456,
                              int64_t seg = 16777216,
                              StrategyOnFull st = StrategyOnFull::kRejectNewData,
                              Persistence p = Persistence::kFile) {
    StreamDefinition d;
    d.name = name;
    d.max_size = max;
    d.segment_size = seg;
    d.strategy = st;
    d.persistence = p;
    return d;
  }
  std::vector<std::string> segments(const std::string& pattern = ".seg") {
    std::vector<std::string> v;
    for (auto& d : fs::directory_iterator(root_)) {
      for (auto& f : fs::directory_iterator(d.path())) {
        std::string p = f.path().string();
        if (p.size() >= pattern.size() &&
            p.compare(p.size() - pattern.size(), pattern.size(), pattern) == 0)
          v.push_back(p);
      }
    }
    std::sort(v.begin(), v.end());
    return v;
  }
  std::string root_;
  int64_t now_ = 1'000'000;
};

TEST_F(StoreTest, AppendReadAndSurviveRestart) {
  {
    auto s = make();
    ASSERT_TRUE(s->create(def("a b.c", 268435456, 1024)));
    for (int i = 0; i < 100; ++i) {
      auto seq = s->append("a b.c", "message " + std::to_string(i));
      ASSERT_TRUE(seq);
      EXPECT_EQ(*seq, i);
    }
    EXPECT_GT(segments().size(), 1u);  // 1 KiB segments
  }
  auto s = make();
  auto msgs = s->read("a b.c", 0, 1000, 1 << 20);
  ASSERT_TRUE(msgs);
  ASSERT_EQ(msgs->size(), 100u);
  EXPECT_EQ((*msgs)[42].payload, "message 42");
  EXPECT_EQ((*msgs)[42].sequenceNumber, 42);
  EXPECT_EQ(*s->append("a b.c", "next"), 100);  // numbering continues
  auto from = s->read("a b.c", 98, 2, 1 << 20);
  ASSERT_EQ(from->size(), 2u);
  EXPECT_EQ((*from)[0].sequenceNumber, 98);
}

TEST_F(StoreTest, TornTailIsTruncatedAndNumberingContinues) {
  {
    auto s = make();
    ASSERT_TRUE(s->create(def("t")));
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->append("t", "m" + std::to_string(i)));
  }
  auto segs = segments();
  ASSERT_EQ(segs.size(), 1u);
  // A record cut in the middle (the core died during write).
  int fd = ::open(segs[0].c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "\x50\0\0\0\1\2\3", 7), 7);
  ::close(fd);
  auto s = make();
  EXPECT_EQ(s->read("t", 0, 100, 1 << 20)->size(), 10u);
  EXPECT_EQ(*s->append("t", "after"), 10);
}

TEST_F(StoreTest, CorruptOlderSegmentIsMovedAsideAndReported) {
  {
    auto s = make();
    ASSERT_TRUE(s->create(def("c", 268435456, 1024)));
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(s->append("c", std::string(100, 'x')));
  }
  auto segs = segments();
  ASSERT_GE(segs.size(), 3u);
  {
    std::fstream f(segs[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    f.write("CORRUPT", 7);
  }
  auto s = make();
  EXPECT_TRUE(fs::exists(segs[1] + ".corrupt"));
  EXPECT_FALSE(fs::exists(segs[1]));
  auto st = s->stats("c");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->errors.size(), 1u);
  EXPECT_NE(st->errors[0].find(".corrupt"), std::string::npos);
  EXPECT_LT(st->messages, 60);
  EXPECT_EQ(*s->append("c", "y"), 60);
}

TEST_F(StoreTest, RejectNewDataWhenFull) {
  auto s = make();
  ASSERT_TRUE(s->create(def("r", 1024, 1024)));
  int ok = 0;
  Status last;
  for (int i = 0; i < 20; ++i) {
    auto r = s->append("r", std::string(100, 'a'));
    if (r) {
      ++ok;
    } else {
      last = r.status();
    }
  }
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(last.code(), Code::kInvalid);
  EXPECT_NE(last.message().find("full"), std::string::npos);
  EXPECT_EQ(s->append("r", std::string(2000, 'a')).status().code(), Code::kTooLarge);
}

TEST_F(StoreTest, OverwriteOldestDropsOldSegments) {
  for (auto p : {Persistence::kFile, Persistence::kMemory}) {
    auto s = make();
    std::string n = p == Persistence::kFile ? "of" : "om";
    ASSERT_TRUE(s->create(def(n, 1024, 1024, StrategyOnFull::kOverwriteOldestData, p)));
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->append(n, std::string(100, 'a')));
    auto st = s->stats(n);
    EXPECT_LE(st->bytes, 1024);
    EXPECT_EQ(*st->newest, 49);
    EXPECT_GT(*st->oldest, 0);
    // Reading from 0 starts at the oldest message still present.
    auto m = s->read(n, 0, 1, 1 << 20);
    ASSERT_EQ(m->size(), 1u);
    EXPECT_EQ((*m)[0].sequenceNumber, *st->oldest);
  }
}

TEST_F(StoreTest, TimeToLiveExpires) {
  auto s = make();
  auto d = def("ttl", 268435456, 1024, StrategyOnFull::kRejectNewData, Persistence::kMemory);
  d.ttl_ms = 60000;
  ASSERT_TRUE(s->create(d));
  ASSERT_TRUE(s->append("ttl", "old"));
  now_ += 61000;
  ASSERT_TRUE(s->append("ttl", "new"));
  auto m = s->read("ttl", 0, 10, 1 << 20);
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].payload, "new");
}

TEST_F(StoreTest, UpdateRules) {
  auto s = make();
  ASSERT_TRUE(s->create(def("u")));
  auto d = def("u", 4096);
  d.flush_on_write = true;
  EXPECT_TRUE(s->update(d));
  EXPECT_EQ(s->definition("u")->max_size, 4096);
  d.persistence = Persistence::kMemory;
  EXPECT_EQ(s->update(d).code(), Code::kConflict);
  EXPECT_EQ(s->update(def("missing")).code(), Code::kNotFound);
  EXPECT_FALSE(s->create(def("u")));  // exists
}

TEST_F(StoreTest, MemoryStreamsAreNotPersistedAndDeleteRemovesFiles) {
  {
    auto s = make();
    ASSERT_TRUE(s->create(
        def("mem", 268435456, 16777216, StrategyOnFull::kRejectNewData, Persistence::kMemory)));
    ASSERT_TRUE(s->append("mem", "x"));
    ASSERT_TRUE(s->create(def("gone")));
    ASSERT_TRUE(s->append("gone", "x"));
    ASSERT_TRUE(s->remove("gone"));
    EXPECT_EQ(s->remove("gone").code(), Code::kNotFound);
  }
  auto s = make();
  EXPECT_TRUE(s->list().empty());
  EXPECT_TRUE(segments().empty());
}

TEST_F(StoreTest, ExportProgressIsDurable) {
  {
    auto s = make();
    ASSERT_TRUE(s->create(def("p")));
    ASSERT_TRUE(s->append("p", "x"));
    EXPECT_FALSE(s->loadProgress("p", "kinesis1"));
    ASSERT_TRUE(s->saveProgress("p", "kinesis1", 1));
  }
  auto s = make();
  EXPECT_EQ(s->loadProgress("p", "kinesis1"), 1);
  EXPECT_EQ(s->oldestSequence("p"), 0);
  EXPECT_EQ(s->newestSequence("p"), 0);
}

}  // namespace
}  // namespace evg::streammgr
