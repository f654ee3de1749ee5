#include "supervisor/spawn_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <string>

namespace evg::supervisor {

namespace {

const char* const kStepNames[] = {"setsid",
                                  "dup",
                                  "chdir",
                                  "setgroups",
                                  "setgid",
                                  "setuid",
                                  "execve",
                                  "open",
                                  "joining the cgroup",
                                  "fork",
                                  "parent-death signal"};
static_assert(std::size(kStepNames) == kSpawnStepCount, "one name per SpawnStep");

}  // namespace

const char* spawnStepName(int step) {
  return step >= 0 && step < kSpawnStepCount ? kStepNames[step] : "?";
}

void childOwnLogPipes(uid_t uid, gid_t gid) {
  for (int fd = 1; fd <= 6; ++fd) (void)fchown(fd, uid, gid);
}

void childFail(int status_fd, int step) {
  ChildError e{step, errno};
  ssize_t n = write(status_fd, &e, sizeof e);
  (void)n;
  _exit(127);
}

void childDieWithParent(int status_fd) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) childFail(status_fd, kSpawnStepParentDeath);
  struct pollfd p {};
  p.fd = status_fd;
  p.events = POLLOUT;
  // The parent holds the status pipe's only read end until execve: POLLERR = no reader left.
  if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR) != 0) _exit(127);
}

SpawnPipes::SpawnPipes() : status_{-1, -1} {
  for (auto& p : log_) p[0] = p[1] = -1;
}

SpawnPipes::~SpawnPipes() { closeAll(); }

void SpawnPipes::closeAll() {
  for (auto& p : log_) {
    for (int& fd : p) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }
  for (int& fd : status_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

Status SpawnPipes::open() {
  for (auto& p : log_) {
    if (pipe2(p, O_CLOEXEC) != 0) {
      int e = errno;
      closeAll();
      return Status::io(std::string("pipe: ") + strerror(e));
    }
  }
  if (pipe2(status_, O_CLOEXEC) != 0) {
    int e = errno;
    closeAll();
    return Status::io(std::string("pipe: ") + strerror(e));
  }
  return Status::ok();
}

int SpawnPipes::childSetup(int token_fd, int stdin_fd) {
  int sfd = status_[1];
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
  if (setsid() < 0) childFail(sfd, kSpawnStepSetsid);
  // Move the write ends and the status fd above the target range first (they may collide).
  int high[6];
  for (int i = 0; i < 6; ++i) {
    high[i] = fcntl(log_[i][1], F_DUPFD_CLOEXEC, 16);
    if (high[i] < 0) childFail(sfd, kSpawnStepDup);
  }
  int hsfd = fcntl(sfd, F_DUPFD_CLOEXEC, 16);
  if (hsfd < 0) childFail(sfd, kSpawnStepDup);
  sfd = hsfd;
  int htok = -1;
  if (token_fd >= 0) {
    htok = fcntl(token_fd, F_DUPFD_CLOEXEC, 16);
    if (htok < 0) childFail(sfd, kSpawnStepDup);
  }
  int in = stdin_fd >= 0 ? fcntl(stdin_fd, F_DUPFD_CLOEXEC, 16)
                         : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in < 0) childFail(sfd, stdin_fd >= 0 ? kSpawnStepDup : kSpawnStepOpen);
  if (dup2(in, 0) < 0) childFail(sfd, kSpawnStepDup);
  for (int i = 0; i < 6; ++i) {
    if (dup2(high[i], i + 1) < 0) childFail(sfd, kSpawnStepDup);  // dup2 clears FD_CLOEXEC
  }
  int first_free = 7;
  if (htok >= 0) {
    if (dup2(htok, kTokenFd) < 0) childFail(sfd, kSpawnStepDup);  // inherited across execve
    first_free = kTokenFd + 1;
  }
  // Close every other inherited descriptor except the status pipe (close-on-exec).
#ifdef SYS_close_range
  if (sfd > first_free) {
    syscall(SYS_close_range, static_cast<unsigned>(first_free), static_cast<unsigned>(sfd - 1), 0u);
  }
  syscall(SYS_close_range, static_cast<unsigned>(sfd + 1), ~0u, 0u);
#else
  for (int fd = first_free; fd < 4096; ++fd) {
    if (fd != sfd) close(fd);
  }
#endif
  if (child_nofile_soft_ != 0) {
    struct rlimit rl {};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && child_nofile_soft_ < rl.rlim_cur) {
      rl.rlim_cur = child_nofile_soft_;
      (void)setrlimit(RLIMIT_NOFILE, &rl);  // lowering never fails; the hard limit is kept
    }
  }
  return sfd;
}

std::optional<ChildError> SpawnPipes::awaitExec(pid_t pid, bool kill_on_failure) {
  close(status_[1]);
  status_[1] = -1;
  for (auto& p : log_) {
    close(p[1]);
    p[1] = -1;
  }
  ChildError ce{};
  ssize_t n;
  do {
    n = read(status_[0], &ce, sizeof ce);
  } while (n < 0 && errno == EINTR);
  close(status_[0]);
  status_[0] = -1;
  if (n != static_cast<ssize_t>(sizeof ce)) return std::nullopt;
  int st = 0;
  if (kill_on_failure) kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  closeAll();
  return ce;
}

WorkerHandle SpawnPipes::takeHandle(pid_t pid) {
  WorkerHandle h;
  h.pid = pid;
  for (size_t i = 0; i < log_.size(); ++i) {
    int fd = log_[i][0];
    log_[i][0] = -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    h.pipes.push_back(LogPipe{kChildFdLevels[i], fd});
  }
  return h;
}

}  // namespace evg::supervisor
