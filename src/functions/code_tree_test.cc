// Code tree rules (code_tree.h): zips built here byte by byte (so entry types, modes, names and
// declared sizes can be anything a hostile zip may hold), and directories with links, FIFOs and
// sockets.

#include "functions/code_tree.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "functions/zip_builder_for_tests.h"

namespace evg::functions {
namespace {

namespace fs = std::filesystem;
using ziptest::ZipBuilder;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/evg_code_tree_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string readAll(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << data;
}

mode_t modeOf(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode;
}

// Restores the umask at scope end.
struct UmaskGuard {
  explicit UmaskGuard(mode_t m) : old(::umask(m)) {}
  ~UmaskGuard() { ::umask(old); }
  mode_t old;
};

class CodeTreeTest : public ::testing::Test {
 protected:
  std::string zip(const ZipBuilder& b, const std::string& name = "pkg.zip") {
    std::string p = tmp_.path() + "/" + name;
    b.writeTo(p);
    return p;
  }
  // Unpacks and expects a refusal whose message contains every needle; nothing may be left.
  void expectRefused(const ZipBuilder& b, std::initializer_list<const char*> needles,
                     const CodeLimits& limits = {}) {
    std::string dest = tmp_.path() + "/out";
    Status st = unpackZip(zip(b), dest, limits);
    ASSERT_FALSE(st.isOk());
    for (const char* n : needles) {
      EXPECT_NE(st.message().find(n), std::string::npos)
          << "\"" << n << "\" not in: " << st.message();
    }
    EXPECT_FALSE(fs::exists(dest)) << "a refused zip left " << dest;
  }
  TempDir tmp_;
};

TEST_F(CodeTreeTest, UnpacksFilesAndDirectoriesWithSaneModes) {
  UmaskGuard umask(077);  // a restrictive umask must not make the code unreadable to RunAs users
  ZipBuilder b;
  b.file("app.py", "print('hi')\n", S_IFREG | 0600);
  b.file("bin/run", "#!/bin/sh\n", S_IFREG | 0700);
  b.dir("private/", S_IFDIR | 0700);
  b.file("private/data.txt", "d", S_IFREG | 0666);
  b.file("suid", "x", S_IFREG | 06755);
  b.file("./lib//mod.py", "m", S_IFREG | 0644);
  std::string dest = tmp_.path() + "/out";
  Status st = unpackZip(zip(b), dest, {});
  ASSERT_TRUE(st.isOk()) << st.toString();
  EXPECT_EQ(readAll(dest + "/app.py"), "print('hi')\n");
  EXPECT_EQ(modeOf(dest) & 07777, 0755u);
  EXPECT_EQ(modeOf(dest + "/app.py") & 07777, 0644u);
  EXPECT_EQ(modeOf(dest + "/bin") & 07777, 0755u);  // implicit directory
  EXPECT_EQ(modeOf(dest + "/bin/run") & 07777, 0755u);
  EXPECT_EQ(modeOf(dest + "/private") & 07777, 0755u);
  EXPECT_EQ(modeOf(dest + "/private/data.txt") & 07777, 0644u);
  EXPECT_EQ(modeOf(dest + "/suid") & 07777, 0755u);  // no setuid/setgid
  EXPECT_EQ(readAll(dest + "/lib/mod.py"), "m");
}

TEST_F(CodeTreeTest, ZipWithoutUnixModesGetsDefaults) {
  ZipBuilder b;
  b.file("a.py", "a", 0, /*has_unix_mode=*/false);
  b.dir("d/", 0, /*has_unix_mode=*/false);
  std::string dest = tmp_.path() + "/out";
  ASSERT_TRUE(unpackZip(zip(b), dest, {}).isOk());
  EXPECT_EQ(modeOf(dest + "/a.py") & 07777, 0644u);
  EXPECT_TRUE(S_ISDIR(modeOf(dest + "/d")));
}

TEST_F(CodeTreeTest, KeepsSymlinksThatStayInsideAsLinks) {
  ZipBuilder b;
  b.file("lib/real.py", "real");
  b.symlink("lib/alias.py", "real.py");
  b.symlink("top", "lib");
  b.symlink("a/b/up.py", "../../lib/real.py");
  b.symlink("a/self", "..");  // the top directory itself is inside
  std::string dest = tmp_.path() + "/out";
  Status st = unpackZip(zip(b), dest, {});
  ASSERT_TRUE(st.isOk()) << st.toString();
  EXPECT_TRUE(S_ISLNK(modeOf(dest + "/lib/alias.py")));
  EXPECT_EQ(fs::read_symlink(dest + "/lib/alias.py").string(), "real.py");
  EXPECT_EQ(fs::read_symlink(dest + "/a/b/up.py").string(), "../../lib/real.py");
  EXPECT_EQ(readAll(dest + "/a/b/up.py"), "real");
  EXPECT_EQ(readAll(dest + "/top/real.py"), "real");
}

TEST_F(CodeTreeTest, RefusesSymlinksLeavingTheFunction) {
  // Issue 11 item 4: a link to /etc/shadow must never become a copy (nor a link) in the store.
  {
    ZipBuilder b;
    b.file("app.py", "x");
    b.symlink("shadow", "/etc/shadow");
    expectRefused(b, {"\"shadow\"", "/etc/shadow", "absolute"});
  }
  {
    ZipBuilder b;
    b.symlink("lib/escape", "../../etc/shadow");
    expectRefused(b, {"\"lib/escape\"", "outside the function"});
  }
  {
    // "d" resolves to the top, so "d/../etc" would leave it: ".." after a name is refused.
    ZipBuilder b;
    b.symlink("d", ".");
    b.symlink("e", "d/../etc/shadow");
    expectRefused(b, {"\"e\"", "after a name"});
  }
}

TEST_F(CodeTreeTest, RefusesOtherEntryTypesNamingTheEntry) {
  struct Case {
    mode_t mode;
    const char* what;
  } cases[] = {{S_IFCHR | 0644, "a character device"},
               {S_IFBLK | 0644, "a block device"},
               {S_IFSOCK | 0644, "a socket"}};
  for (const auto& c : cases) {
    ZipBuilder b;
    b.file("ok.py", "ok");
    b.file("dev/thing", "", c.mode);
    expectRefused(b, {"\"dev/thing\"", c.what});
  }
  // libarchive reports a zip's FIFO entry as a regular file: it is unpacked as one (0644), never
  // as a FIFO that would block readers.
  ZipBuilder b;
  b.file("pipe", "data", S_IFIFO | 0666);
  std::string dest = tmp_.path() + "/fifo";
  ASSERT_TRUE(unpackZip(zip(b), dest, {}).isOk());
  EXPECT_EQ(modeOf(dest + "/pipe"), mode_t{S_IFREG | 0644});
  EXPECT_EQ(readAll(dest + "/pipe"), "data");
}

TEST_F(CodeTreeTest, RefusesBadPaths) {
  auto one = [](const char* name) {
    ZipBuilder b;
    b.file("ok.py", "ok");
    b.file(name, "evil");
    return b;
  };
  expectRefused(one("/tmp/evil.py"), {"\"/tmp/evil.py\"", "absolute path"});
  expectRefused(one("../evil.py"), {"\"../evil.py\"", "\"..\""});
  expectRefused(one("a/../../evil.py"), {"\"a/../../evil.py\"", "\"..\""});
  expectRefused(one("a/./.."), {"\"..\""});
  expectRefused(one("ok.py"), {"\"ok.py\"", "appears twice"});
  {
    ZipBuilder b;
    b.file("f", "file");
    b.file("f/g", "below a file");
    expectRefused(b, {"\"f/g\"", "below \"f\", which is a file"});
  }
  {
    // Writing through a link would escape the tree: refused even when the link itself is fine.
    ZipBuilder b;
    b.dir("d/");
    b.symlink("l", "d");
    b.file("l/x", "x");
    expectRefused(b, {"\"l/x\"", "which is a symlink"});
  }
  {
    ZipBuilder b;
    b.dir("d/");
    b.file("d", "x");
    expectRefused(b, {"\"d\"", "name of a directory"});
  }
}

TEST_F(CodeTreeTest, RefusesNonZipAndCorruptData) {
  writeFile(tmp_.path() + "/bad.zip", "not a zip at all");
  Status st = unpackZip(tmp_.path() + "/bad.zip", tmp_.path() + "/out", {});
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("not a readable zip"), std::string::npos) << st.message();
  EXPECT_EQ(unpackZip(tmp_.path() + "/none.zip", tmp_.path() + "/out", {}).code(), Code::kNotFound);
  ZipBuilder b;
  b.file("a.py", "hello");
  b.corruptCrc();
  expectRefused(b, {"\"a.py\""});
}

// 1,600 MiB of zeros in ~1.6 MB (the hardening report's bomb): refused from the declared sizes
// before a byte is written, in well under a second.
TEST_F(CodeTreeTest, ZipBombIsRefusedQuicklyWithoutWriting) {
  ZipBuilder b;
  b.zeros("bomb.bin", 1600);
  std::string p = zip(b);
  EXPECT_LT(fs::file_size(p), 2u * 1024 * 1024);
  std::string dest = tmp_.path() + "/out";
  auto t0 = std::chrono::steady_clock::now();
  Status st = unpackZip(p, dest, {});
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.code(), Code::kTooLarge);
  EXPECT_NE(st.message().find("268435456 bytes (evergreen.functions.maxUnpackedBytes)"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("\"bomb.bin\""), std::string::npos) << st.message();
  EXPECT_LT(ms, 2000);
  EXPECT_FALSE(fs::exists(dest));
}

// Headers that under-declare the size: the inflated bytes are counted while writing.
TEST_F(CodeTreeTest, LyingSizesAreCaughtWhileWriting) {
  ZipBuilder b;
  b.zeros("liar.bin", 64, /*declared_size=*/1000);
  CodeLimits limits;
  limits.max_unpacked_bytes = 8 * 1024 * 1024;
  std::string dest = tmp_.path() + "/out";
  Status st = unpackZip(zip(b), dest, limits);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("8388608 bytes"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(dest));
}

TEST_F(CodeTreeTest, EntryCountAndSizeBoundsAreConfigurable) {
  ZipBuilder b;
  for (int i = 0; i < 11; ++i) b.file("f" + std::to_string(i), "0123456789");
  CodeLimits few;
  few.max_entries = 10;
  expectRefused(b, {"more than 10 entries", "evergreen.functions.maxEntries", "\"f10\""}, few);
  CodeLimits small;
  small.max_unpacked_bytes = 105;
  expectRefused(b, {"105 bytes (evergreen.functions.maxUnpackedBytes)"}, small);
  CodeLimits exact;
  exact.max_entries = 11;
  exact.max_unpacked_bytes = 110;
  EXPECT_TRUE(unpackZip(zip(b), tmp_.path() + "/ok", exact).isOk());
}

class CodeDirTest : public CodeTreeTest {
 protected:
  void SetUp() override {
    src_ = tmp_.path() + "/src";
    writeFile(src_ + "/app.py", "app");
    writeFile(src_ + "/lib/util.py", "util");
    ::chmod((src_ + "/app.py").c_str(), 0700);
  }
  Status copy(const CodeLimits& limits = {}) { return copyCodeTree(src_, dest(), limits); }
  std::string dest() const { return tmp_.path() + "/dest"; }
  std::string src_;
};

TEST_F(CodeDirTest, CopiesFilesKeepsInsideLinksAsLinks) {
  UmaskGuard umask(077);
  fs::create_symlink("util.py", src_ + "/lib/u.py");
  fs::create_symlink("lib", src_ + "/l");
  Status st = copy();
  ASSERT_TRUE(st.isOk()) << st.toString();
  EXPECT_EQ(readAll(dest() + "/lib/util.py"), "util");
  EXPECT_EQ(modeOf(dest() + "/app.py") & 07777, 0755u);
  EXPECT_EQ(modeOf(dest() + "/lib/util.py") & 07777, 0644u);
  EXPECT_EQ(modeOf(dest() + "/lib") & 07777, 0755u);
  EXPECT_TRUE(S_ISLNK(modeOf(dest() + "/lib/u.py")));
  EXPECT_EQ(fs::read_symlink(dest() + "/l").string(), "lib");
}

TEST_F(CodeDirTest, NeverDereferencesLinksToOutside) {
  // A root-only directory with a secret, and /etc/shadow: links to either are refused, and no
  // copy of their contents appears anywhere under the destination.
  std::string secret_dir = tmp_.path() + "/rootonly";
  writeFile(secret_dir + "/secret.txt", "TOP-SECRET");
  ::chmod(secret_dir.c_str(), 0700);
  struct Case {
    std::string target;
    const char* why;
  } cases[] = {{"/etc/shadow", "absolute"},
               {secret_dir, "absolute"},
               {"../../rootonly/secret.txt", "outside the function"},
               {"../../rootonly", "outside the function"}};
  for (const auto& c : cases) {
    std::string link = src_ + "/lib/link";
    fs::remove(link);
    fs::create_symlink(c.target, link);
    Status st = copy();
    ASSERT_FALSE(st.isOk()) << c.target;
    EXPECT_NE(st.message().find("\"lib/link\""), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(c.why), std::string::npos) << st.message();
    EXPECT_FALSE(fs::exists(dest()));
  }
}

TEST_F(CodeDirTest, RefusesFifosAndSocketsNamingThem) {
  ASSERT_EQ(::mkfifo((src_ + "/lib/pipe").c_str(), 0644), 0);
  Status st = copy();
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("\"lib/pipe\" is a FIFO"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(dest()));
  fs::remove(src_ + "/lib/pipe");

  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string sp = src_ + "/sock";
  ASSERT_LT(sp.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sp.c_str(), sp.size() + 1);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  st = copy();
  ::close(s);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("\"sock\" is a socket"), std::string::npos) << st.message();
}

TEST_F(CodeDirTest, BoundsApplyAndDestinationInsideSourceIsRefused) {
  CodeLimits few;
  few.max_entries = 2;  // app.py, lib, lib/util.py
  Status st = copy(few);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("maxEntries"), std::string::npos) << st.message();
  CodeLimits small;
  small.max_unpacked_bytes = 5;
  st = copy(small);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("maxUnpackedBytes"), std::string::npos) << st.message();
  st = copyCodeTree(src_, src_ + "/lib/copy", {});
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("contains the store destination"), std::string::npos);
  EXPECT_EQ(copyCodeTree(tmp_.path() + "/nope", dest(), {}).code(), Code::kNotFound);
}

TEST_F(CodeDirTest, TreeDigestCoversContentModesAndLinks) {
  ASSERT_TRUE(copy().isOk());
  uint64_t bytes = 0;
  auto h1 = treeSha256(dest(), &bytes);
  ASSERT_TRUE(h1.isOk());
  EXPECT_EQ(bytes, 7u);  // "app" + "util"
  EXPECT_EQ(*treeSha256(dest(), &bytes), *h1);
  ::chmod((dest() + "/app.py").c_str(), 0644);
  auto h2 = treeSha256(dest(), &bytes);
  EXPECT_NE(*h2, *h1);
  fs::create_symlink("util.py", dest() + "/lib/l");
  auto h3 = treeSha256(dest(), &bytes);
  EXPECT_NE(*h3, *h2);
  fs::remove(dest() + "/lib/l");
  fs::create_symlink("app.py", dest() + "/lib/l");
  EXPECT_NE(*treeSha256(dest(), &bytes), *h3);
}

}  // namespace
}  // namespace evg::functions
