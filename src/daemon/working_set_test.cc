#include "daemon/working_set.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <fstream>
#include <string>

namespace evg::daemon {
namespace {

// Rss and Anonymous (kB) of the mapping that starts at `addr`, from /proc/self/smaps.
std::pair<long, long> residentOf(const void* addr) {
  char head[32];
  std::snprintf(head, sizeof head, "%lx-", reinterpret_cast<unsigned long>(addr));
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool mine = false;
  long rss = -1, anon = -1;
  while (std::getline(in, line)) {
    if (line.rfind(head, 0) == 0) {
      mine = true;
      continue;
    }
    if (!mine) continue;
    if (line.rfind("Rss:", 0) == 0) rss = std::stol(line.substr(4));
    if (line.rfind("Anonymous:", 0) == 0) {
      anon = std::stol(line.substr(10));
      break;
    }
  }
  return {rss, anon};
}

class WorkingSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/evg_working_set_XXXXXX";
    fd_ = ::mkstemp(tmpl);
    ASSERT_GE(fd_, 0);
    path_ = tmpl;
    std::string data(kBytes, '\0');
    for (size_t i = 0; i < kBytes; ++i) data[i] = static_cast<char>('a' + i % 26);
    ASSERT_EQ(::write(fd_, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  static constexpr size_t kBytes = 64 * 4096;
  int fd_ = -1;
  std::string path_;
};

TEST_F(WorkingSetTest, ReadOnlyFilePagesAreUnmappedAndFaultBackWithTheirContent) {
  void* p = ::mmap(nullptr, kBytes, PROT_READ, MAP_PRIVATE, fd_, 0);
  ASSERT_NE(p, MAP_FAILED);
  const char* c = static_cast<const char*>(p);
  long sum = 0;
  for (size_t i = 0; i < kBytes; i += 4096) sum += c[i];
  EXPECT_GT(sum, 0);
  EXPECT_GE(residentOf(p).first, 64 * 4);  // every page touched
  auto t = trimReadOnlyFilePages();
  ASSERT_TRUE(t.isOk()) << t.status().message();
  EXPECT_GE(t->mappings, 1u);
  EXPECT_GE(t->resident_kb, 64u * 4);
  EXPECT_EQ(residentOf(p).first, 0);
  // Content intact; reading one page maps it back (with the kernel's fault-around, at most
  // 64 KB of its neighbours), not the whole mapping.
  EXPECT_EQ(c[4096 * 10 + 3], static_cast<char>('a' + (4096 * 10 + 3) % 26));
  EXPECT_GE(residentOf(p).first, 4);
  EXPECT_LE(residentOf(p).first, 64);
  ::munmap(p, kBytes);
}

TEST_F(WorkingSetTest, ReadOnlyMappingWithCopiedOnWritePagesIsLeftAlone) {
  // What RELRO looks like: a private file mapping written (relocated), then made read-only.
  void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd_, 0);
  ASSERT_NE(p, MAP_FAILED);
  char* c = static_cast<char*>(p);
  c[5] = '#';
  ASSERT_EQ(::mprotect(p, kBytes, PROT_READ), 0);
  EXPECT_GT(residentOf(p).second, 0);  // a private page
  ASSERT_TRUE(trimReadOnlyFilePages().isOk());
  EXPECT_EQ(c[5], '#');  // not reverted to the file's byte
  EXPECT_GT(residentOf(p).first, 0);
  ::munmap(p, kBytes);
}

TEST_F(WorkingSetTest, WritableAndAnonymousMappingsAreLeftAlone) {
  void* w = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd_, 0);
  ASSERT_NE(w, MAP_FAILED);
  void* a = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(a, MAP_FAILED);
  const char* wc = static_cast<const char*>(w);
  long sum = 0;
  for (size_t i = 0; i < kBytes; i += 4096) sum += wc[i];
  EXPECT_GT(sum, 0);
  static_cast<char*>(a)[0] = 'z';
  const long w_before = residentOf(w).first;
  ASSERT_TRUE(trimReadOnlyFilePages().isOk());
  EXPECT_EQ(residentOf(w).first, w_before);
  EXPECT_EQ(static_cast<char*>(a)[0], 'z');
  ::munmap(w, kBytes);
  ::munmap(a, kBytes);
}

TEST(IdleTrimPolicyTest, TrimsOnlyWhenIdleAndPagesCameBack) {
  using std::chrono::milliseconds;
  IdleTrimPolicy p(milliseconds(10000));  // 1 % of 10 s = 100 ms of CPU
  p.trimmed({1000000, 2000});
  // Busy (200 ms of CPU in the period), pages back: not now.
  EXPECT_FALSE(p.shouldTrim({1200000, 3200}));
  // Idle (5 ms), 1,200 KB back (>= 256): trim.
  EXPECT_TRUE(p.shouldTrim({1205000, 3200}));
  p.trimmed({1206000, 2040});
  // Idle, but only 160 KB came back: nothing worth a trim.
  EXPECT_FALSE(p.shouldTrim({1207000, 2200}));
  // Idle and 256 KB back: trim.
  EXPECT_TRUE(p.shouldTrim({1208000, 2296}));
  // A CPU counter that went backwards (never happens) counts as idle, not as a huge value.
  p.trimmed({2000000, 400});
  EXPECT_TRUE(p.shouldTrim({1000, 800}));
}

TEST_F(WorkingSetTest, IdleTrimmerUnmapsPagesTouchedAfterStart) {
  void* p = ::mmap(nullptr, kBytes, PROT_READ, MAP_PRIVATE, fd_, 0);
  ASSERT_NE(p, MAP_FAILED);
  boost::asio::io_context io;
  int trims = 0;
  IdleTrimmer trimmer(io, std::chrono::milliseconds(200),
                      [&](const Result<PageTrim>& t, const WorkingSetSample& before) {
                        EXPECT_TRUE(t.isOk());
                        EXPECT_GT(before.file_kb, 0u);
                        ++trims;
                        trimmer.stop();
                      });
  ASSERT_TRUE(trimReadOnlyFilePages().isOk());
  trimmer.start();
  // Work after the start-up trim brings 256 KB of file pages back...
  const char* c = static_cast<const char*>(p);
  long sum = 0;
  for (size_t i = 0; i < kBytes; i += 4096) sum += c[i];
  EXPECT_GT(sum, 0);
  EXPECT_GE(residentOf(p).first, 64 * 4);
  // ...and the next idle period takes them away again.
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(trims, 1);
  EXPECT_EQ(residentOf(p).first, 0);
  ::munmap(p, kBytes);
}

}  // namespace
}  // namespace evg::daemon
