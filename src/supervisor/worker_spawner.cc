#include "supervisor/worker_spawner.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace evg::supervisor {

namespace {

constexpr std::array<LogLevel, 6> kChildFdLevels = {LogLevel::kInfo,  LogLevel::kError,
                                                    LogLevel::kDebug, LogLevel::kWarn,
                                                    LogLevel::kFatal, LogLevel::kTrace};

// Child-side failure report: step id + errno, written to the exec-status pipe.
struct ChildError {
  int step;
  int err;
};
const char* kSteps[] = {"setsid", "dup",    "chdir",  "setgroups",
                        "setgid", "setuid", "execve", "open"};

[[noreturn]] void childFail(int fd, int step) {
  ChildError e{step, errno};
  ssize_t n = write(fd, &e, sizeof e);
  (void)n;
  _exit(127);
}

}  // namespace

int childLogFd(LogLevel level) {
  for (size_t i = 0; i < kChildFdLevels.size(); ++i) {
    if (kChildFdLevels[i] == level) return static_cast<int>(i) + 1;
  }
  return -1;
}

Result<WorkerHandle> NoContainerSpawner::spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return Status::invalid("spawn: empty argv");
  uid_t self = geteuid();
  uid_t target_uid = spec.uid ? static_cast<uid_t>(*spec.uid) : self;
  if (target_uid == 0 && !opts_.allow_root) {
    return Status::forbidden(
        "refusing to run " + spec.argv[0] +
        " as root: set runtime.allowFunctionsToRunAsRoot to \"yes\" or configure a RunAs uid");
  }
  bool switch_identity = spec.uid.has_value() || spec.gid.has_value();
  if (switch_identity && self != 0 &&
      (target_uid != self || (spec.gid && static_cast<gid_t>(*spec.gid) != getegid()))) {
    return Status::forbidden("cannot run " + spec.argv[0] + " as uid " +
                             std::to_string(target_uid) + ": the daemon is not root");
  }

  // Everything the child needs is prepared before fork (the child only makes syscalls).
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  std::array<int[2], 6> pipes{};
  int status_pipe[2] = {-1, -1};
  auto closeAll = [&] {
    for (auto& p : pipes) {
      for (int fd : p) {
        if (fd > 0) close(fd);
      }
    }
    for (int fd : status_pipe) {
      if (fd >= 0) close(fd);
    }
  };
  for (auto& p : pipes) p[0] = p[1] = -1;
  for (auto& p : pipes) {
    if (pipe2(p, O_CLOEXEC) != 0) {
      closeAll();
      return Status::io(std::string("pipe: ") + strerror(errno));
    }
  }
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    closeAll();
    return Status::io(std::string("pipe: ") + strerror(errno));
  }

  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    closeAll();
    return Status::io(std::string("fork: ") + strerror(e));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    int sfd = status_pipe[1];
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
    if (setsid() < 0) childFail(sfd, 0);
    // Move the write ends and the status fd above the target range first (they may collide).
    int high[6];
    for (int i = 0; i < 6; ++i) {
      high[i] = fcntl(pipes[i][1], F_DUPFD_CLOEXEC, 16);
      if (high[i] < 0) childFail(sfd, 1);
    }
    int hsfd = fcntl(sfd, F_DUPFD_CLOEXEC, 16);
    if (hsfd < 0) childFail(sfd, 1);
    sfd = hsfd;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) childFail(sfd, 7);
    if (dup2(devnull, 0) < 0) childFail(sfd, 1);
    for (int i = 0; i < 6; ++i) {
      if (dup2(high[i], i + 1) < 0) childFail(sfd, 1);  // dup2 clears FD_CLOEXEC
    }
    if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) childFail(sfd, 2);
    if (switch_identity && self == 0) {
      gid_t g = spec.gid ? static_cast<gid_t>(*spec.gid) : getegid();
      if (setgroups(1, &g) != 0) childFail(sfd, 3);
      if (setgid(g) != 0) childFail(sfd, 4);
      if (setuid(target_uid) != 0) childFail(sfd, 5);
    }
    // Close every inherited descriptor above 6 except the status pipe (close-on-exec).
#ifdef SYS_close_range
    if (sfd > 7) syscall(SYS_close_range, 7u, static_cast<unsigned>(sfd - 1), 0u);
    syscall(SYS_close_range, static_cast<unsigned>(sfd + 1), ~0u, 0u);
#else
    for (int fd = 7; fd < 4096; ++fd) {
      if (fd != sfd) close(fd);
    }
#endif
    execve(argv[0], argv.data(), envp.data());
    childFail(sfd, 6);
  }

  // Parent.
  close(status_pipe[1]);
  status_pipe[1] = -1;
  for (auto& p : pipes) {
    close(p[1]);
    p[1] = -1;
  }
  ChildError ce{};
  ssize_t n;
  do {
    n = read(status_pipe[0], &ce, sizeof ce);
  } while (n < 0 && errno == EINTR);
  close(status_pipe[0]);
  status_pipe[0] = -1;
  if (n == static_cast<ssize_t>(sizeof ce)) {
    int st = 0;
    waitpid(pid, &st, 0);
    closeAll();
    const char* step = ce.step >= 0 && ce.step < 8 ? kSteps[ce.step] : "?";
    return Status::io("starting " + spec.argv[0] + " failed at " + step + ": " + strerror(ce.err));
  }
  WorkerHandle h;
  h.pid = pid;
  for (size_t i = 0; i < pipes.size(); ++i) {
    int fd = pipes[i][0];
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    h.pipes.push_back({kChildFdLevels[i], fd});
  }
  return h;
}

}  // namespace evg::supervisor
