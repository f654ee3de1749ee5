#pragma once
// Process spawning behind an interface so a container backend (namespaces, cgroups) can slot in
// next to the plain NoContainer one.
//
// Child file descriptors (the v1/GGv2 layout, exported to the runtime as _GG_LOG_FD_*):
//   0 /dev/null   1 INFO (stdout)   2 ERROR (stderr)   3 DEBUG   4 WARN   5 FATAL   6 TRACE
//   7 the token pipe (SpawnSpec::token_fd), when given
// Every other descriptor is closed in the child. The child runs in its own session (setsid), so
// kill(-pid, sig) reaches the worker and anything it forked.
//
// Workers die with the core: the child sets PR_SET_PDEATHSIG(SIGKILL) after its last identity
// change (a credential change clears it) and exits at once if the core is already gone (checked
// through the exec-status pipe, which also works across pid namespaces). The signal follows the
// *thread* that forked: spawn from the thread that runs the event loop for the core's lifetime.
//
// Reaping contract: the spawner never waits for children; the owner reaps them (waitpid on the
// returned pid, e.g. from a SIGCHLD signal_set) and owns the returned pipe read ends.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/status.h"
#include "functions/function_spec.h"

namespace evg::supervisor {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0]: absolute path of the program
  std::vector<std::string> env;   // complete environment, "KEY=VALUE"
  std::string cwd;                // working directory (must exist)
  std::optional<uint32_t> uid;    // run as; unset: the daemon's identity
  std::optional<uint32_t> gid;
  // The function being started and the runtimes directory (HostOptions::runtime_dir): container
  // backends read isolation, memory, resources and the paths to mount from them. May be null.
  const functions::FunctionSpec* function = nullptr;
  std::string runtime_dir;
  // cgroup.procs files the child joins (writes "0" to) before it drops privileges (a tracking
  // group per worker, see container::ContainerSpawner::plainSpawner). Empty: none.
  std::vector<std::string> join_cgroups;
  // Read end of a pipe holding the worker's AWS_CONTAINER_AUTHORIZATION_TOKEN; the child gets it
  // as fd kTokenFd (see runtime_command.h: token passing). -1: none.
  int token_fd = -1;
  // Read end of a pipe that becomes the child's stdin (fd 0) instead of /dev/null: a standby
  // worker blocks on it until the host assigns it (function_host.h, "Standby workers"). -1: none.
  int stdin_fd = -1;
};

// The child-side descriptor carrying the token pipe (after the log fds 0..6).
constexpr int kTokenFd = 7;

struct LogPipe {
  LogLevel level;
  int fd;  // read end, O_CLOEXEC|O_NONBLOCK, owned by the caller
};

struct WorkerHandle {
  pid_t pid = -1;
  std::vector<LogPipe> pipes;  // one per child fd 1..6
};

// The child-side fd number that carries each level.
int childLogFd(LogLevel level);

class WorkerSpawner {
 public:
  virtual ~WorkerSpawner() = default;
  // Starts the process. Errors: Status::forbidden (identity not allowed), Status::io (fork,
  // pipe, or exec failure, with the failing step and errno text), Status::invalid (empty argv).
  virtual Result<WorkerHandle> spawn(const SpawnSpec& spec) = 0;
  // The owner reaped `pid` (a process this spawner started) with wait status `status`: release
  // what the spawner holds for it (e.g. its cgroups). Returns a cause the spawner knows better
  // than the wait status (e.g. "memory limit exceeded ..."), else nullopt.
  virtual std::optional<std::string> onExit(pid_t /*pid*/, int /*status*/) { return std::nullopt; }
};

struct NoContainerOptions {
  // runtime.allowFunctionsToRunAsRoot == "yes": only then may a worker run as uid 0.
  bool allow_root = false;
  // RLIMIT_NOFILE soft limit for workers (0: inherit the core's). See SpawnPipes.
  uint64_t child_nofile_soft = 0;
};

// Plain fork/exec. setgid/setuid happen only when the daemon is root (otherwise a different
// identity is refused). Exec failures are reported synchronously through a close-on-exec pipe.
class NoContainerSpawner : public WorkerSpawner {
 public:
  explicit NoContainerSpawner(NoContainerOptions opts) : opts_(opts) {}
  Result<WorkerHandle> spawn(const SpawnSpec& spec) override;

 private:
  NoContainerOptions opts_;
};

}  // namespace evg::supervisor
