#include "container/cgroups.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

namespace evg::container {

namespace {

std::string errnoText(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + strerror(errno);
}

std::vector<std::string> splitWords(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  for (const auto& e : v) {
    if (e == x) return true;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HostCgroupFs

bool HostCgroupFs::exists(const std::string& path) const {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Result<std::string> HostCgroupFs::read(const std::string& path) const {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::io(errnoText("open", path));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::io(errnoText("read", path));
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status HostCgroupFs::write(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::io(errnoText("open", path));
  ssize_t n = ::write(fd, value.data(), value.size());
  Status s = n == static_cast<ssize_t>(value.size())
                 ? Status::ok()
                 : Status::io(errnoText("write \"" + value + "\" to", path));
  ::close(fd);
  return s;
}

Status HostCgroupFs::makeGroup(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return Status::ok();
  return Status::io(errnoText("mkdir", path));
}

Status HostCgroupFs::removeGroup(const std::string& path) {
  if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return Status::ok();
  if (errno == EBUSY) return Status::busy(errnoText("rmdir", path));
  return Status::io(errnoText("rmdir", path));
}

std::vector<std::string> HostCgroupFs::listGroups(const std::string& path) const {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (e->d_type == DT_DIR) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

void HostCgroupFs::killPid(pid_t pid) {
  if (pid > 0) ::kill(pid, SIGKILL);
}

// ---------------------------------------------------------------------------------------------

std::string_view hierarchyName(Hierarchy h) {
  switch (h) {
    case Hierarchy::kV1:
      return "v1";
    case Hierarchy::kV2:
      return "v2";
    case Hierarchy::kNone:
      break;
  }
  return "none";
}

int64_t cgroupKeyValue(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto w = splitWords(line);
    if (w.size() == 2 && w[0] == key) {
      char* end = nullptr;
      long long v = std::strtoll(w[1].c_str(), &end, 10);
      if (end != nullptr && *end == '\0') return v;
    }
  }
  return -1;
}

std::vector<std::string> CgroupLayout::missing() const {
  std::vector<std::string> m;
  if (memory == Hierarchy::kNone) m.push_back("memory (MemorySize)");
  if (pids == Hierarchy::kNone) m.push_back("pids");
  return m;
}

std::string CgroupLayout::describe() const {
  std::string s = "cgroups: " + mode + " (memory: " + std::string(hierarchyName(memory)) +
                  ", pids: " + std::string(hierarchyName(pids)) + ", devices: " +
                  (devices == Hierarchy::kV1 ? std::string("v1 devices cgroup")
                                             : std::string("private /dev only")) +
                  ")";
  s += "; NoContainer workers tracked in: " + (track == Hierarchy::kV2 ? std::string("v2 groups")
                                               : track == Hierarchy::kV1
                                                   ? "v1 " + track_controller + " groups"
                                                   : std::string("none (recorded pids only)"));
  if (memory == Hierarchy::kV1 && !v1_memsw) {
    s += "; no swap accounting (memory.memsw): swap use is not limited";
  }
  return s;
}

CgroupManager::CgroupManager(CgroupFs& fs, CgroupOptions opts, Log log)
    : fs_(fs), opts_(std::move(opts)), log_(std::move(log)) {}

std::string CgroupManager::v1Dir(const std::string& controller, const std::string& name) const {
  std::string d = layout_.v1_root + "/" + controller + "/" + opts_.parent;
  return name.empty() ? d : d + "/" + name;
}

std::string CgroupManager::v2Dir(const std::string& name) const {
  std::string d = layout_.v2_root + "/" + opts_.parent;
  return name.empty() ? d : d + "/" + name;
}

Status CgroupManager::makeChain(const std::string& base, const std::string& rel) {
  std::string cur = base;
  std::istringstream in(rel);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (part.empty()) continue;
    cur += "/" + part;
    EVG_RETURN_IF_ERROR(fs_.makeGroup(cur));
  }
  return Status::ok();
}

void CgroupManager::detect() {
  CgroupLayout l;
  const std::string& r = opts_.root;
  std::vector<std::string> v2_controllers;
  if (fs_.exists(r + "/cgroup.controllers")) {
    l.mode = "v2";
    l.v2_root = r;
  } else {
    bool any_v1 = false;
    if (fs_.exists(r + "/memory/memory.limit_in_bytes")) {
      l.memory = Hierarchy::kV1;
      l.v1_memsw = fs_.exists(r + "/memory/memory.memsw.limit_in_bytes");
      any_v1 = true;
    }
    if (fs_.exists(r + "/pids/cgroup.procs")) {
      l.pids = Hierarchy::kV1;
      any_v1 = true;
    }
    if (fs_.exists(r + "/devices/devices.allow")) {
      l.devices = Hierarchy::kV1;
      any_v1 = true;
    }
    if (any_v1) l.v1_root = r;
    if (fs_.exists(r + "/unified/cgroup.controllers")) l.v2_root = r + "/unified";
    l.mode = any_v1 ? (l.v2_root.empty() ? "v1" : "hybrid") : (l.v2_root.empty() ? "none" : "v2");
  }
  if (!l.v2_root.empty()) {
    auto c = fs_.read(l.v2_root + "/cgroup.controllers");
    if (c) v2_controllers = splitWords(*c);
    if (l.memory == Hierarchy::kNone && contains(v2_controllers, "memory")) {
      l.memory = Hierarchy::kV2;
    }
    if (l.pids == Hierarchy::kNone && contains(v2_controllers, "pids")) l.pids = Hierarchy::kV2;
  }
  if (!l.v2_root.empty()) {
    l.track = Hierarchy::kV2;
  } else if (l.pids == Hierarchy::kV1) {
    l.track = Hierarchy::kV1;
    l.track_controller = "pids";
  } else if (l.memory == Hierarchy::kV1) {
    l.track = Hierarchy::kV1;
    l.track_controller = "memory";
  }
  layout_ = l;

  // Parent groups. Failures downgrade the controller (reported by missing()).
  auto v1Parent = [&](const char* ctrl, Hierarchy* h) {
    if (*h != Hierarchy::kV1) return;
    Status s = makeChain(layout_.v1_root + "/" + ctrl, opts_.parent);
    if (!s) {
      log_.warn(std::string("cgroup v1 ") + ctrl + " unusable: " + s.message());
      *h = Hierarchy::kNone;
    }
  };
  v1Parent("memory", &layout_.memory);
  v1Parent("pids", &layout_.pids);
  v1Parent("devices", &layout_.devices);
  if (layout_.memory == Hierarchy::kV2 || layout_.pids == Hierarchy::kV2) {
    std::string enable;
    if (layout_.memory == Hierarchy::kV2) enable += "+memory ";
    if (layout_.pids == Hierarchy::kV2) enable += "+pids";
    // Enable the controllers at every level from the v2 root down to the parent (the levels
    // above the workers hold no processes, as v2's no-internal-processes rule requires).
    std::string cur = layout_.v2_root;
    Status s = fs_.write(cur + "/cgroup.subtree_control", enable);
    std::istringstream in(opts_.parent);
    std::string part;
    while (s && std::getline(in, part, '/')) {
      if (part.empty()) continue;
      cur += "/" + part;
      s = fs_.makeGroup(cur);
      if (s) s = fs_.write(cur + "/cgroup.subtree_control", enable);
    }
    if (!s) {
      log_.warn("cgroup v2 controllers unusable under " + layout_.v2_root + ": " + s.message());
      if (layout_.memory == Hierarchy::kV2) layout_.memory = Hierarchy::kNone;
      if (layout_.pids == Hierarchy::kV2) layout_.pids = Hierarchy::kNone;
    }
  }
  if (layout_.track == Hierarchy::kV2) {
    // Tracking needs no controller (hybrid's unified tree has none): just the parent chain.
    Status s = makeChain(layout_.v2_root, opts_.parent);
    if (!s) {
      log_.warn("cgroup v2 tree unusable for tracking workers: " + s.message());
      layout_.track = Hierarchy::kNone;
      if (layout_.pids == Hierarchy::kV1) {
        layout_.track = Hierarchy::kV1;
        layout_.track_controller = "pids";
      } else if (layout_.memory == Hierarchy::kV1) {
        layout_.track = Hierarchy::kV1;
        layout_.track_controller = "memory";
      }
    }
  }
}

bool CgroupManager::killAndRemove(const std::string& dir) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    Status s = fs_.removeGroup(dir);
    if (s) return true;
    if (s.code() != Code::kBusy) {
      log_.warn("removing cgroup: " + s.message());
      return false;
    }
    // Still populated: kill what is left (a leftover worker of a crashed core), then retry.
    if (fs_.exists(dir + "/cgroup.kill")) (void)fs_.write(dir + "/cgroup.kill", "1");
    auto procs = fs_.read(dir + "/cgroup.procs");
    if (procs) {
      for (const auto& w : splitWords(*procs))
        fs_.killPid(static_cast<pid_t>(std::atoi(w.c_str())));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 1 : 10));
  }
  log_.warn("cgroup " + dir + " is still busy; it is removed at the next start");
  return false;
}

size_t CgroupManager::sweep() {
  size_t removed = 0;
  auto sweepDir = [&](const std::string& parent) {
    for (const auto& n : fs_.listGroups(parent)) {
      if (killAndRemove(parent + "/" + n)) ++removed;
    }
  };
  if (layout_.memory == Hierarchy::kV1) sweepDir(v1Dir("memory"));
  if (layout_.pids == Hierarchy::kV1) sweepDir(v1Dir("pids"));
  if (layout_.devices == Hierarchy::kV1) sweepDir(v1Dir("devices"));
  if (layout_.memory == Hierarchy::kV2 || layout_.pids == Hierarchy::kV2 ||
      layout_.track == Hierarchy::kV2) {
    sweepDir(v2Dir());
  }
  return removed;
}

Result<WorkerCgroup> CgroupManager::createTracking(const std::string& name) {
  if (layout_.track == Hierarchy::kNone) {
    return Status::unsupported("no cgroup hierarchy to track workers in");
  }
  WorkerCgroup cg;
  cg.name = name;
  std::string d =
      layout_.track == Hierarchy::kV2 ? v2Dir(name) : v1Dir(layout_.track_controller, name);
  Status s = fs_.makeGroup(d);
  if (!s) return s.withContext("worker cgroup " + name + ": ");
  cg.dirs.push_back(d);
  cg.procs_files.push_back(d + "/cgroup.procs");
  return cg;
}

void CgroupManager::removeParents() {
  std::vector<std::string> bases;
  if (layout_.memory == Hierarchy::kV1) bases.push_back(layout_.v1_root + "/memory");
  if (layout_.pids == Hierarchy::kV1) bases.push_back(layout_.v1_root + "/pids");
  if (layout_.devices == Hierarchy::kV1) bases.push_back(layout_.v1_root + "/devices");
  if (!layout_.v2_root.empty() &&
      (layout_.memory == Hierarchy::kV2 || layout_.pids == Hierarchy::kV2 ||
       layout_.track == Hierarchy::kV2)) {
    bases.push_back(layout_.v2_root);
  }
  // Only this core's own group (evergreen/<core-id>): the shared first level stays, as another
  // core starting at the same moment may be creating its group under it.
  for (const auto& base : bases) (void)fs_.removeGroup(base + "/" + opts_.parent);
}

Result<WorkerCgroup> CgroupManager::create(const std::string& name, const WorkerLimits& limits) {
  WorkerCgroup cg;
  cg.name = name;
  auto fail = [&](const Status& s) -> Status {
    (void)remove(cg);
    return s.withContext("worker cgroup " + name + ": ");
  };
  auto add = [&](const std::string& dir) -> Status {
    EVG_RETURN_IF_ERROR(fs_.makeGroup(dir));
    cg.dirs.push_back(dir);
    cg.procs_files.push_back(dir + "/cgroup.procs");
    return Status::ok();
  };
  if (layout_.memory == Hierarchy::kV1) {
    std::string d = v1Dir("memory", name);
    Status s = add(d);
    if (s) s = fs_.write(d + "/memory.limit_in_bytes", std::to_string(limits.memory_bytes));
    // Swap off for the function: memory+swap capped at the same value (when accounted).
    if (s && layout_.v1_memsw) {
      s = fs_.write(d + "/memory.memsw.limit_in_bytes", std::to_string(limits.memory_bytes));
    }
    if (s && fs_.exists(d + "/memory.swappiness")) (void)fs_.write(d + "/memory.swappiness", "0");
    if (!s) return fail(s);
    cg.memory_dir = d;
    cg.memory = Hierarchy::kV1;
  }
  if (layout_.pids == Hierarchy::kV1) {
    std::string d = v1Dir("pids", name);
    Status s = add(d);
    if (s) s = fs_.write(d + "/pids.max", std::to_string(limits.pids_max));
    if (!s) return fail(s);
  }
  if (layout_.devices == Hierarchy::kV1 && !limits.device_rules.empty()) {
    std::string d = v1Dir("devices", name);
    Status s = add(d);
    if (s) s = fs_.write(d + "/devices.deny", "a");
    for (const auto& rule : limits.device_rules) {
      if (s) s = fs_.write(d + "/devices.allow", rule);
    }
    if (!s) return fail(s);
  }
  if (layout_.memory == Hierarchy::kV2 || layout_.pids == Hierarchy::kV2) {
    std::string d = v2Dir(name);
    Status s = add(d);
    if (s && layout_.memory == Hierarchy::kV2) {
      s = fs_.write(d + "/memory.max", std::to_string(limits.memory_bytes));
      if (s && fs_.exists(d + "/memory.swap.max")) s = fs_.write(d + "/memory.swap.max", "0");
      // The OOM killer takes the whole worker group (init + worker), not a random member.
      if (s && fs_.exists(d + "/memory.oom.group")) (void)fs_.write(d + "/memory.oom.group", "1");
      if (s) {
        cg.memory_dir = d;
        cg.memory = Hierarchy::kV2;
      }
    }
    if (s && layout_.pids == Hierarchy::kV2) {
      s = fs_.write(d + "/pids.max", std::to_string(limits.pids_max));
    }
    if (!s) return fail(s);
  }
  return cg;
}

bool CgroupManager::oomKilled(const WorkerCgroup& cg) const {
  if (cg.memory == Hierarchy::kNone) return false;
  const char* file = cg.memory == Hierarchy::kV1 ? "/memory.oom_control" : "/memory.events";
  auto text = fs_.read(cg.memory_dir + file);
  return text && cgroupKeyValue(*text, "oom_kill") > 0;
}

Status CgroupManager::remove(const WorkerCgroup& cg) {
  bool all = true;
  for (auto it = cg.dirs.rbegin(); it != cg.dirs.rend(); ++it) all = killAndRemove(*it) && all;
  return all ? Status::ok() : Status::busy("cgroups of " + cg.name + " still busy");
}

}  // namespace evg::container
