#pragma once

// The fork/exec plumbing shared by the worker spawners (NoContainerSpawner here,
// container::ContainerSpawner): six log pipes on child fds 1..6, /dev/null on fd 0, and an
// exec-status pipe on which the child reports the step that failed (ChildError) or which
// close-on-exec closes when execve succeeds.
//
//   SpawnPipes p;  if (auto s = p.open(); !s) return s;
//   pid = fork();
//   child:  int sfd = p.childSetup();  ...own steps, childFail(sfd, kSpawnStep...)...; execve
//   parent: if (auto e = p.awaitExec(pid, kill)) return error naming spawnStepName(e->step);
//           return p.takeHandle(pid);

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>

#include "base/status.h"
#include "supervisor/worker_spawner.h"

namespace evg::supervisor {

// The log level each child fd 1..6 carries (index 0 = fd 1).
constexpr std::array<LogLevel, 6> kChildFdLevels = {LogLevel::kInfo,  LogLevel::kError,
                                                    LogLevel::kDebug, LogLevel::kWarn,
                                                    LogLevel::kFatal, LogLevel::kTrace};

// Child side (async-signal-safe), after the last credential change and before execve: asks the
// kernel to SIGKILL this process when the spawning thread dies, then _exit(127)s if the parent is
// already gone (status_fd's read end closed: the race between fork and prctl).
void childDieWithParent(int status_fd);
// Child side, before dropping privileges (async-signal-safe): the log pipes on fds 1..6 become
// the worker's (fchown), as if it had created them. Runtimes that reopen their fds through
// /proc/self/fd/<n> (the Java runtime's LogSink) can then do so as a RunAs identity; a pipe
// created by root is mode 0600 root. Errors are ignored (fds 1..6 stay usable as they are).
void childOwnLogPipes(uid_t uid, gid_t gid);

// Child-side failure report: step id + errno, written to the exec-status pipe.
struct ChildError {
  int step;
  int err;
};

// Step ids the spawners report (names from spawnStepName). Spawners may use their own ids from
// kSpawnStepCount on (the container uses 100 + op index).
enum SpawnStep {
  kSpawnStepSetsid,
  kSpawnStepDup,
  kSpawnStepChdir,
  kSpawnStepSetgroups,
  kSpawnStepSetgid,
  kSpawnStepSetuid,
  kSpawnStepExec,
  kSpawnStepOpen,
  kSpawnStepCgroup,
  kSpawnStepFork,
  kSpawnStepParentDeath,
  kSpawnStepCount
};

// "setsid", "dup", ..., "joining the cgroup", "fork"; "?" for an unknown id.
const char* spawnStepName(int step);

// Child side (async-signal-safe): reports {step, errno} on status_fd and _exit(127)s.
[[noreturn]] void childFail(int status_fd, int step);

class SpawnPipes {
 public:
  SpawnPipes();
  ~SpawnPipes();  // closes every end still open
  SpawnPipes(const SpawnPipes&) = delete;
  SpawnPipes& operator=(const SpawnPipes&) = delete;

  // Creates the six log pipes and the status pipe (O_CLOEXEC). Status::io naming pipe+errno.
  Status open();

  // Child side, right after fork/clone (async-signal-safe): default signal mask and handlers,
  // setsid, the log write ends on fds 1..6, /dev/null on fd 0, every other descriptor closed
  // except the status pipe (close-on-exec, moved above fd 15). Returns that status fd; on failure
  // reports via childFail (kSpawnStepSetsid / kSpawnStepDup / kSpawnStepOpen).
  // token_fd >= 0: also placed on fd kTokenFd (7). stdin_fd >= 0: placed on fd 0 instead of
  // /dev/null.
  int childSetup(int token_fd = -1, int stdin_fd = -1);

  // The RLIMIT_NOFILE soft limit childSetup() gives the child (0: the core's own, unchanged).
  // The core raises its own limit for thousands of device sockets (daemon/fd_limit.h); its
  // workers get the limit the core was started with, as they would under v1 (select() users).
  void setChildNofileSoft(uint64_t soft) { child_nofile_soft_ = soft; }

  // Parent side, after fork/clone: closes the write ends and blocks until the child's execve
  // closes the status pipe (returns nullopt) or the child reports a failure; then the child is
  // reaped (SIGKILLed first if kill_on_failure), every pipe closed, and the report returned.
  std::optional<ChildError> awaitExec(pid_t pid, bool kill_on_failure);

  // After a successful awaitExec: the log read ends (made non-blocking) move into the handle.
  WorkerHandle takeHandle(pid_t pid);

  void closeAll();

 private:
  std::array<int[2], 6> log_;
  int status_[2];
  uint64_t child_nofile_soft_ = 0;
};

}  // namespace evg::supervisor
