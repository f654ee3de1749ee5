#include "supervisor/worker_spawner.h"

#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "supervisor/dir_access.h"
#include "supervisor/spawn_util.h"

namespace evg::supervisor {

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
  gid_t target_gid = spec.gid ? static_cast<gid_t>(*spec.gid) : getegid();
  if (target_gid == 0 && !opts_.allow_root) {
    return Status::forbidden(
        "refusing to run " + spec.argv[0] +
        " with group root (gid 0): set runtime.allowFunctionsToRunAsRoot to \"yes\" or "
        "configure a RunAs gid");
  }
  bool switch_identity = spec.uid.has_value() || spec.gid.has_value();
  if (switch_identity && self != 0 &&
      (target_uid != self || (spec.gid && static_cast<gid_t>(*spec.gid) != getegid()))) {
    return Status::forbidden("cannot run " + spec.argv[0] + " as uid " +
                             std::to_string(target_uid) + ": the daemon is not root");
  }

  // Everything the child needs is prepared before fork (the child only makes syscalls).
  // Directories the target identity cannot reach by path (a root under a 0700 directory) are
  // opened by the child while still root and named as /proc/self/fd/<n> (dir_access.h).
  std::vector<std::string> argv_s = spec.argv, env_s = spec.env, dir_fds;
  if (switch_identity && self == 0 && target_uid != 0) {
    dir_fds = planDirFds(&argv_s, &env_s, target_uid, target_gid);
  }
  std::vector<char*> argv, envp;
  for (const auto& a : argv_s) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env_s) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  std::vector<const char*> procs;
  for (const auto& f : spec.join_cgroups) procs.push_back(f.c_str());

  SpawnPipes pipes;
  if (Status st = pipes.open(); !st) return st;
  pipes.setChildNofileSoft(opts_.child_nofile_soft);

  pid_t pid = fork();
  if (pid < 0) return Status::io(std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    int sfd = pipes.childSetup(spec.token_fd, spec.stdin_fd);
    for (size_t i = 0; i < dir_fds.size(); ++i) {
      int want = kFirstDirFd + static_cast<int>(i);
      int fd = ::open(dir_fds[i].c_str(), O_PATH | O_DIRECTORY);  // inherited across execve
      if (fd < 0) childFail(sfd, kSpawnStepOpen);
      if (fd != want) {
        if (dup2(fd, want) < 0) childFail(sfd, kSpawnStepDup);
        close(fd);
      }
    }
    if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) childFail(sfd, kSpawnStepChdir);
    // Join the tracking cgroup while still privileged (cgroup.procs belongs to root).
    for (const char* f : procs) {
      int fd = open(f, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1) childFail(sfd, kSpawnStepCgroup);
      close(fd);
    }
    if (switch_identity && self == 0) {
      gid_t g = target_gid;
      childOwnLogPipes(target_uid, g);
      if (setgroups(1, &g) != 0) childFail(sfd, kSpawnStepSetgroups);
      if (setgid(g) != 0) childFail(sfd, kSpawnStepSetgid);
      if (setuid(target_uid) != 0) childFail(sfd, kSpawnStepSetuid);
    }
    childDieWithParent(sfd);  // after the identity change, which would clear it
    execve(argv[0], argv.data(), envp.data());
    childFail(sfd, kSpawnStepExec);
  }

  // Parent.
  if (auto ce = pipes.awaitExec(pid, /*kill_on_failure=*/false)) {
    return Status::io("starting " + spec.argv[0] + " failed at " + spawnStepName(ce->step) + ": " +
                      strerror(ce->err));
  }
  return pipes.takeHandle(pid);
}

}  // namespace evg::supervisor
