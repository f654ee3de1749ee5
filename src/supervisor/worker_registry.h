#pragma once
// evg::supervisor::WorkerRegistry — a record of the live workers on disk, so a core killed with
// SIGKILL (no chance to stop its workers) finds and kills what is left of them at its next start.
//
// One file per worker, <dir>/<pid>, holding "<boot id> <start time>" (/proc/sys/kernel/random/
// boot_id and field 22 of /proc/<pid>/stat). sweep() kills a recorded pid (its process group
// first: workers are session leaders) only when both still match, so a recycled pid or a record
// from before a reboot never hits an unrelated process. This complements PR_SET_PDEATHSIG (the
// normal path: workers die with the core) and the per-worker cgroups of the container module
// (which also catch what a worker forked into another session).

#include <sys/types.h>

#include <string>

#include "base/log.h"
#include "base/status.h"

namespace evg::supervisor {

class WorkerRegistry {
 public:
  // `dir` empty: disabled (every call is a no-op).
  WorkerRegistry(std::string dir, Log log);

  // Creates the directory (0700) and kills + forgets every recorded worker still alive. Returns
  // how many were killed.
  size_t sweep();
  void add(pid_t pid);     // records a just-started worker (blocking file write, ~20 us)
  void remove(pid_t pid);  // after the worker was reaped

 private:
  std::string dir_;
  Log log_;
  std::string boot_id_;
};

// Field 22 (starttime, clock ticks after boot) of /proc/<pid>/stat; "" when the process is gone.
std::string processStartTime(pid_t pid);

}  // namespace evg::supervisor
