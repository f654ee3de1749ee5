#include "supervisor/spawn_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

namespace evg::supervisor {
namespace {

size_t openFds() {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

TEST(SpawnUtilTest, StepNamesCoverEveryStepAndUnknownIds) {
  EXPECT_STREQ(spawnStepName(kSpawnStepSetsid), "setsid");
  EXPECT_STREQ(spawnStepName(kSpawnStepExec), "execve");
  EXPECT_STREQ(spawnStepName(kSpawnStepCgroup), "joining the cgroup");
  EXPECT_STREQ(spawnStepName(kSpawnStepFork), "fork");
  EXPECT_STREQ(spawnStepName(kSpawnStepCount), "?");
  EXPECT_STREQ(spawnStepName(-1), "?");
  EXPECT_STREQ(spawnStepName(100), "?");
}

TEST(SpawnUtilTest, ChildFailureIsReportedReapedAndEveryPipeClosed) {
  size_t before = openFds();
  {
    SpawnPipes p;
    ASSERT_TRUE(p.open().isOk());
    EXPECT_EQ(openFds(), before + 14);  // 6 log pipes + the status pipe
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int sfd = p.childSetup();
      errno = ENOTDIR;
      childFail(sfd, kSpawnStepChdir);
    }
    auto ce = p.awaitExec(pid, /*kill_on_failure=*/false);
    ASSERT_TRUE(ce.has_value());
    EXPECT_EQ(ce->step, kSpawnStepChdir);
    EXPECT_EQ(ce->err, ENOTDIR);
    EXPECT_EQ(openFds(), before);
    int st = 0;
    EXPECT_EQ(waitpid(pid, &st, WNOHANG), -1);  // already reaped
    EXPECT_EQ(errno, ECHILD);
  }
  EXPECT_EQ(openFds(), before);
}

// The child gets the soft open-file limit the core started with (the core raises its own for
// device sockets); reported back through the status pipe as the "errno" of a fake failure.
TEST(SpawnUtilTest, ChildGetsTheConfiguredSoftOpenFileLimit) {
  struct rlimit rl {};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur <= 100) GTEST_SKIP() << "soft limit already <= 100";
  SpawnPipes p;
  ASSERT_TRUE(p.open().isOk());
  p.setChildNofileSoft(100);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int sfd = p.childSetup();
    struct rlimit c {};
    getrlimit(RLIMIT_NOFILE, &c);
    errno = static_cast<int>(c.rlim_cur == 100 && c.rlim_max == rl.rlim_max ? 100 : c.rlim_cur);
    childFail(sfd, kSpawnStepExec);
  }
  auto ce = p.awaitExec(pid, /*kill_on_failure=*/false);
  ASSERT_TRUE(ce.has_value());
  EXPECT_EQ(ce->err, 100);
  struct rlimit after {};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, rl.rlim_cur);  // the parent's own limit is untouched
}

TEST(SpawnUtilTest, KillOnFailureStopsAChildThatKeepsRunning) {
  SpawnPipes p;
  ASSERT_TRUE(p.open().isOk());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int sfd = p.childSetup();
    // Like a container's init: report for the worker, then keep waiting.
    ChildError e{kSpawnStepFork, EAGAIN};
    ssize_t n = write(sfd, &e, sizeof e);
    (void)n;
    for (;;) pause();
  }
  auto ce = p.awaitExec(pid, /*kill_on_failure=*/true);
  ASSERT_TRUE(ce.has_value());
  EXPECT_EQ(ce->step, kSpawnStepFork);
  EXPECT_EQ(ce->err, EAGAIN);
}

TEST(SpawnUtilTest, SuccessfulExecHandsOverNonBlockingLogPipes) {
  size_t before = openFds();
  SpawnPipes p;
  ASSERT_TRUE(p.open().isOk());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int sfd = p.childSetup();
    char* argv[] = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"),
                    const_cast<char*>("echo warn >&4"), nullptr};
    char* envp[] = {nullptr};
    execve(argv[0], argv, envp);
    childFail(sfd, kSpawnStepExec);
  }
  ASSERT_FALSE(p.awaitExec(pid, false).has_value());
  WorkerHandle h = p.takeHandle(pid);
  EXPECT_EQ(h.pid, pid);
  ASSERT_EQ(h.pipes.size(), 6u);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  std::string warn;
  for (size_t i = 0; i < h.pipes.size(); ++i) {
    EXPECT_EQ(h.pipes[i].level, kChildFdLevels[i]);
    EXPECT_NE(fcntl(h.pipes[i].fd, F_GETFL) & O_NONBLOCK, 0);
    char buf[64];
    ssize_t n = read(h.pipes[i].fd, buf, sizeof buf);
    if (h.pipes[i].level == LogLevel::kWarn && n > 0) warn.assign(buf, static_cast<size_t>(n));
    close(h.pipes[i].fd);
  }
  EXPECT_EQ(warn, "warn\n");
  p.closeAll();  // the handed-over read ends are no longer the pipes' to close
  EXPECT_EQ(openFds(), before);
}

}  // namespace
}  // namespace evg::supervisor
