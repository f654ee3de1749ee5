#pragma once
// evg::container::ContainerSpawner — GreengrassContainer isolation behind the supervisor's
// WorkerSpawner interface: clone(2) into new mount, pid, ipc and uts namespaces, a private
// read-only root (pivot_root) holding only what the function needs, the group's local resources,
// RunAs identity, and one cgroup per worker (memory, pids, devices) on cgroup v1, v2 or hybrid
// hosts. See README.md for the container layout and the main flow.
//
// The network namespace is shared with the core on purpose: the function's SDK reaches the IPC
// server on 127.0.0.1:<ggDaemonPort> (as v1's containers did), and functions talk to local
// devices and the network like v1 functions do. A private netns would need a veth pair or a
// socket proxy per worker for no isolation v1 ever promised.

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/status.h"
#include "container/cgroups.h"
#include "supervisor/worker_spawner.h"

namespace evg::container {

struct ContainerOptions {
  bool allow_root = false;         // runtime.allowFunctionsToRunAsRoot == "yes"
  bool limits_mandatory = false;   // evergreen.runtime.containerLimitsMandatory
  uint64_t child_nofile_soft = 0;  // RLIMIT_NOFILE soft limit of workers (0: the core's)
  // Directory for the (empty) root mount point; created by init(). Each worker mounts its own
  // root there inside its private mount namespace, so one directory serves all workers.
  std::string state_dir;
  uint64_t tmp_size_bytes = 64ull << 20;  // /tmp and /dev/shm tmpfs size each
  uint64_t pids_max = 512;
  std::string hostname = "evergreen";
  // Host paths made visible read-only (symlinks, e.g. merged-/usr /lib -> usr/lib, are
  // recreated as symlinks; missing paths are skipped).
  std::vector<std::string> host_ro_paths = {"/usr",    "/lib", "/lib64", "/lib32",
                                            "/libx32", "/bin", "/sbin",  "/etc"};
  CgroupOptions cgroups;  // root /sys/fs/cgroup, parent evergreen/<core-id>
};

// "evergreen/<16 hex digits of a hash of root_dir>": one cgroup subtree per core root.
std::string cgroupParentFor(const std::string& root_dir);

// The cgroup filesystem + manager one core uses; shared by the container backend and the
// NoContainer backend it hands out (plainSpawner()). The parent groups are removed when the last
// user is gone (core stop), so no empty evergreen/<core-id> is left behind.
struct SharedCgroups;

class ContainerSpawner : public supervisor::WorkerSpawner {
 public:
  // `fs` defaults to HostCgroupFs.
  ContainerSpawner(ContainerOptions opts, Log log, std::unique_ptr<CgroupFs> fs = nullptr);
  ~ContainerSpawner() override;  // removes the cgroups of workers not yet reported by onExit

  // Detects the cgroup hierarchy, removes leftovers of a previous run (killing their
  // processes), creates state_dir/rootfs, and logs which limits cannot be enforced. Call once
  // before the first spawn. Status::io when state_dir cannot be created.
  Status init();
  const CgroupLayout& layout() const;

  // The NoContainer backend of this core when cgroups are usable: plain fork/exec
  // (supervisor::NoContainerSpawner) with each worker joining its own limit-free group in the
  // tracking hierarchy (CgroupLayout::track) before it drops privileges, so leftovers of a
  // killed core are found and killed by init()'s sweep, and whatever a worker leaves behind is
  // killed when it exits. Without a tracking hierarchy it is a plain NoContainerSpawner.
  std::unique_ptr<supervisor::WorkerSpawner> plainSpawner(supervisor::NoContainerOptions opts);

  // Errors: those of NoContainerSpawner, plus Status::forbidden when limits are mandatory and a
  // controller is missing, Status::invalid for a resource that cannot be attached (bad
  // destination, missing source), Status::io naming the failing container step.
  Result<supervisor::WorkerHandle> spawn(const supervisor::SpawnSpec& spec) override;
  // Removes the worker's cgroups; returns "memory limit exceeded ..." after an OOM kill.
  std::optional<std::string> onExit(pid_t pid, int status) override;

  size_t liveWorkers() const { return live_.size(); }

 private:
  struct Live {
    WorkerCgroup cg;
    std::string arn;
    uint32_t memory_kb = 0;
  };

  ContainerOptions opts_;
  Log log_;
  std::shared_ptr<SharedCgroups> shared_;
  CgroupManager& cgroups_;
  std::string rootfs_;
  uint64_t next_ = 1;
  std::string run_id_;
  std::map<pid_t, Live> live_;
};

}  // namespace evg::container
