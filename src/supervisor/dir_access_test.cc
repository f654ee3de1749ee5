#include "supervisor/dir_access.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "supervisor/worker_spawner.h"

namespace evg::supervisor {
namespace {

namespace fs = std::filesystem;
constexpr uint32_t kNobody = 65534;

// <tmp>/locked (0700, root) / code (0755) / handler.py (0644); <tmp>/open/lib (0755).
class DirAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/evg_dir_access_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    chmod(base_.c_str(), 0755);
    locked_ = base_ + "/locked";
    code_ = locked_ + "/code";
    fs::create_directories(code_);
    fs::create_directories(base_ + "/open/lib");
    std::ofstream(code_ + "/handler.py") << "print('hello from code')\n";
    chmod(locked_.c_str(), 0700);
    chmod(code_.c_str(), 0755);
    chmod((code_ + "/handler.py").c_str(), 0644);
  }
  void TearDown() override { fs::remove_all(base_); }
  std::string base_, locked_, code_;
};

TEST_F(DirAccessTest, SearchPathNamesTheBlockingAncestor) {
  std::string blocking;
  EXPECT_TRUE(canSearchPath(code_, 0, 0, &blocking));  // root always may
  EXPECT_FALSE(canSearchPath(code_, kNobody, kNobody, &blocking));
  EXPECT_EQ(blocking, locked_);
  EXPECT_TRUE(canSearchPath(base_ + "/open/lib", kNobody, kNobody, nullptr));
  EXPECT_TRUE(canReadDir(code_, kNobody, kNobody));
  EXPECT_FALSE(canReadDir(locked_, kNobody, kNobody));
  // The owner's bits count for the owner, even when "other" would allow more.
  ASSERT_EQ(chown(locked_.c_str(), kNobody, 0), 0);
  chmod(locked_.c_str(), 0071);
  EXPECT_FALSE(canSearchPath(code_, kNobody, kNobody, nullptr));
  EXPECT_TRUE(canSearchPath(code_, 4242, 0, nullptr));     // group bits
  EXPECT_TRUE(canSearchPath(code_, 4242, 4242, nullptr));  // other bits
}

TEST_F(DirAccessTest, PlanRewritesOnlyUnreachableDirectories) {
  std::vector<std::string> argv = {"/usr/bin/python3", code_ + "/handler.py",
                                   "--handler=" + code_ + "/x", "-cp",
                                   base_ + "/open/lib:" + code_ + "/lib/*:" + code_ + "/*"};
  std::vector<std::string> env = {"PYTHONPATH=" + code_ + ":" + base_ + "/open/lib",
                                  "AWS_GG_RESOURCE_PREFIX=" + code_, "OTHER=" + code_ + "x"};
  auto dirs = planDirFds(&argv, &env, kNobody, kNobody);
  ASSERT_EQ(dirs, std::vector<std::string>{code_});
  const std::string fd = "/proc/self/fd/" + std::to_string(kFirstDirFd);
  EXPECT_EQ(argv[0], "/usr/bin/python3");
  EXPECT_EQ(argv[1], fd + "/handler.py");
  EXPECT_EQ(argv[2], "--handler=" + fd + "/x");
  EXPECT_EQ(argv[4], base_ + "/open/lib:" + fd + "/lib/*:" + fd + "/*");
  EXPECT_EQ(env[0], "PYTHONPATH=" + fd + ":" + base_ + "/open/lib");
  EXPECT_EQ(env[1], "AWS_GG_RESOURCE_PREFIX=" + fd);
  EXPECT_EQ(env[2], "OTHER=" + code_ + "x");  // not a path prefix match
  EXPECT_NE(std::find(env.begin(), env.end(), "NODE_PRESERVE_SYMLINKS=1"), env.end());
  // Root, or a reachable tree: nothing to do.
  std::vector<std::string> a2 = {"/bin/cat", code_ + "/handler.py"}, e2;
  EXPECT_TRUE(planDirFds(&a2, &e2, 0, 0).empty());
  EXPECT_EQ(a2[1], code_ + "/handler.py");
}

TEST_F(DirAccessTest, WorkerAsNobodyReadsCodeBelowA0700Directory) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid 65534";
  NoContainerSpawner sp({/*allow_root=*/false});
  SpawnSpec s;
  s.argv = {"/bin/sh", "-c", "id -u; cat \"$CODE/handler.py\"; pwd -P >/dev/null && echo cwd-ok"};
  s.env = {"CODE=" + code_, "PATH=/usr/bin:/bin"};
  s.cwd = code_;
  s.uid = kNobody;
  s.gid = kNobody;
  auto h = sp.spawn(s);
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  std::string out, err;
  for (auto& p : h->pipes) {
    char buf[512];
    ssize_t n;
    std::string* dst = p.level == LogLevel::kInfo    ? &out
                       : p.level == LogLevel::kError ? &err
                                                     : nullptr;
    while ((n = read(p.fd, buf, sizeof buf)) != 0) {
      if (n < 0) {
        if (errno == EAGAIN) {
          usleep(1000);
          continue;
        }
        break;
      }
      if (dst != nullptr) dst->append(buf, static_cast<size_t>(n));
    }
    close(p.fd);
  }
  int st = 0;
  ASSERT_EQ(waitpid(h->pid, &st, 0), h->pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << err;
  EXPECT_EQ(out, "65534\nprint('hello from code')\ncwd-ok\n") << err;
}

}  // namespace
}  // namespace evg::supervisor
