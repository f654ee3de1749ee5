#pragma once
// Cgroup management for container workers, on cgroup v1, v2 and hybrid hosts.
//
// All filesystem access goes through CgroupFs so the logic (detection, limits, OOM detection,
// cleanup) is unit-tested against a fake tree in a temp dir. HostCgroupFs is the real one.
//
// Layout: one cgroup per worker, <hierarchy>/<parent>/<worker>, where <parent> is
// "evergreen/<core-id>" (one subtree per core, so several cores on a host never touch each
// other's workers). Hierarchies:
//   * v1 (pure or hybrid): <root>/memory, <root>/pids, <root>/devices, each a separate tree;
//   * v2 (pure): <root> itself (cgroup.controllers at the top), controllers enabled down the
//     parent chain through cgroup.subtree_control;
//   * hybrid: v1 controllers plus <root>/unified (v2, usually without controllers). A controller
//     is taken from v1 when mounted there, else from v2 when listed in its cgroup.controllers.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/status.h"

namespace evg::container {

class CgroupFs {
 public:
  virtual ~CgroupFs() = default;
  virtual bool exists(const std::string& path) const = 0;
  virtual Result<std::string> read(const std::string& path) const = 0;
  // Writes `value` to an existing control file (or creates it on a fake tree).
  virtual Status write(const std::string& path, const std::string& value) = 0;
  virtual Status makeGroup(const std::string& path) = 0;    // mkdir; ok if it exists
  virtual Status removeGroup(const std::string& path) = 0;  // rmdir (EBUSY while populated)
  virtual std::vector<std::string> listGroups(const std::string& path) const = 0;  // subdirs
  virtual void killPid(pid_t pid) = 0;                                             // SIGKILL
};

// The host's cgroup filesystem (plain syscalls on absolute paths).
class HostCgroupFs : public CgroupFs {
 public:
  bool exists(const std::string& path) const override;
  Result<std::string> read(const std::string& path) const override;
  Status write(const std::string& path, const std::string& value) override;
  Status makeGroup(const std::string& path) override;
  Status removeGroup(const std::string& path) override;
  std::vector<std::string> listGroups(const std::string& path) const override;
  void killPid(pid_t pid) override;
};

enum class Hierarchy { kNone, kV1, kV2 };
std::string_view hierarchyName(Hierarchy h);  // "none" | "v1" | "v2"

// What detect() found: where each controller lives.
struct CgroupLayout {
  std::string mode;  // "v1", "v2", "hybrid", "none"
  Hierarchy memory = Hierarchy::kNone;
  Hierarchy pids = Hierarchy::kNone;
  Hierarchy devices = Hierarchy::kNone;  // v2 has no devices files (eBPF); see README
  std::string v1_root;                   // <root> when any v1 controller is mounted
  std::string v2_root;                   // <root> (pure) or <root>/unified (hybrid); "" if none
  bool v1_memsw = false;                 // memory.memsw.limit_in_bytes (swap accounting)
  // Where NoContainer workers get a (limit-free) group so they can be found and killed: the v2
  // hierarchy when there is one (also hybrid's controller-less unified tree; cgroup.kill), else
  // v1 pids, else v1 memory, else none.
  Hierarchy track = Hierarchy::kNone;
  std::string track_controller;  // v1: "pids" or "memory"

  // Limits that cannot be enforced: "memory (MemorySize)", "pids". Devices are always confined
  // by the private /dev (nodev everywhere else); the v1 devices cgroup adds a second layer.
  std::vector<std::string> missing() const;
  std::string describe() const;  // one line for the start-up log
};

struct CgroupOptions {
  std::string root = "/sys/fs/cgroup";
  std::string parent = "evergreen/default";  // relative to each hierarchy root
};

struct WorkerLimits {
  uint64_t memory_bytes = 16 * 1024 * 1024;
  uint64_t pids_max = 512;
  // Devices cgroup v1 rules for the worker ("c 1:3 rwm"), after "a" is denied. Empty: no
  // devices rules (devices controller missing or unused).
  std::vector<std::string> device_rules;
};

// One worker's cgroups. procs_files: the cgroup.procs files the worker must join (the
// container child writes "0" to each before it execs).
struct WorkerCgroup {
  std::string name;
  std::vector<std::string> dirs;  // every cgroup directory created for it
  std::vector<std::string> procs_files;
  std::string memory_dir;  // where OOM events are read ("" without a memory controller)
  Hierarchy memory = Hierarchy::kNone;
};

class CgroupManager {
 public:
  CgroupManager(CgroupFs& fs, CgroupOptions opts, Log log);

  // Inspects the tree under opts.root; creates the parent groups and enables v2 controllers
  // down the chain. Never fails: what cannot be used is reported by layout().missing().
  void detect();
  const CgroupLayout& layout() const { return layout_; }

  // Kills and removes every leftover worker group under the parent (after a crash or kill -9 of
  // a previous core with the same parent). Returns how many groups were removed.
  size_t sweep();

  // Creates <parent>/<name> in every usable hierarchy and writes the limits.
  Result<WorkerCgroup> create(const std::string& name, const WorkerLimits& limits);
  // Creates <parent>/<name> in the tracking hierarchy only, without limits (NoContainer
  // workers). Status::unsupported when the host has no usable hierarchy.
  Result<WorkerCgroup> createTracking(const std::string& name);
  // Removes this core's parent group (<parent>) in every hierarchy (left when still busy). The
  // shared first level ("evergreen") stays: another core may be creating its group under it.
  void removeParents();
  // True when the memory controller recorded an OOM kill in the worker's group.
  bool oomKilled(const WorkerCgroup& cg) const;
  // Removes the worker's groups (kills stragglers first); retried later by sweep() if busy.
  Status remove(const WorkerCgroup& cg);

 private:
  std::string v1Dir(const std::string& controller, const std::string& name = "") const;
  std::string v2Dir(const std::string& name = "") const;
  Status makeChain(const std::string& base, const std::string& rel);
  bool killAndRemove(const std::string& dir);

  CgroupFs& fs_;
  CgroupOptions opts_;
  Log log_;
  CgroupLayout layout_;
};

// Parses "key value" lines (memory.events, memory.oom_control); -1 when the key is absent.
int64_t cgroupKeyValue(const std::string& text, const std::string& key);

}  // namespace evg::container
