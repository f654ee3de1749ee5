#include "container/container_spawner.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "base/host_paths.h"
#include "supervisor/spawn_util.h"

namespace evg::container {

namespace fs = std::filesystem;
using supervisor::childFail;
using supervisor::SpawnSpec;
using supervisor::WorkerHandle;

namespace {

// The runtime folder a function's runtime id lives in (runtime/<lang>; mounted at /runtime/<lang>).
std::string runtimeLanguage(const std::string& runtime) {
  if (runtime.rfind("nodejs", 0) == 0) return "nodejs";
  if (runtime.rfind("java", 0) == 0) return "java";
  if (runtime == "arn:aws:greengrass:::runtime/function/executable") return "executable";
  return "python";
}

bool isUnder(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

// Replaces `dir` where it stands as a whole path prefix (followed by '/', ':', '=' or the end)
// in a ':'/'='-separated value.
std::string replacePathPrefix(const std::string& s, const std::string& dir, const std::string& to) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    bool at_start = i == 0 || s[i - 1] == ':' || s[i - 1] == '=';
    if (at_start && s.compare(i, dir.size(), dir) == 0) {
      size_t e = i + dir.size();
      if (e == s.size() || s[e] == '/' || s[e] == ':' || s[e] == '=') {
        out += to;
        i = e;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

// Host directories never exposed as a whole, even when a command names them: shared scratch and
// home areas hold other functions' code, the core's root, sockets and users' files.
bool sharedHostDir(const std::string& d) {
  static const char* kShared[] = {"/",        "/tmp", "/var/tmp", "/dev/shm", "/run",
                                  "/var/run", "/var", "/home",    "/root",    "/opt",
                                  "/srv",     "/mnt", "/media",   "/work",    "/usr/local"};
  for (const char* x : kShared) {
    if (d == x) return true;
  }
  return false;
}

// Environment variables whose values name what the runtime loads (libraries, modules, jars).
// Any other variable (HOME, TMPDIR, the function's own) is never a reason to expose a host path:
// functions get host paths only through LocalVolume resources.
bool loadPathVariable(const std::string& e) {
  for (const char* k :
       {"LD_LIBRARY_PATH=", "LD_PRELOAD=", "NODE_PATH=", "PYTHONPATH=", "CLASSPATH="}) {
    if (e.rfind(k, 0) == 0) return true;
  }
  return false;
}

// Exact host files and directories the worker's command line (argv) and load-path variables
// name, outside the container's own paths and the read-only host paths: each is exposed as is
// (a file as a file), never its parent. Outermost first, deduplicated.
std::vector<std::string> extraReadOnlyPaths(const std::vector<std::string>& argv,
                                            const std::vector<std::string>& env,
                                            const std::vector<std::string>& host_ro_paths) {
  // A path under the host's /tmp (a build tree there) is exposed exactly; /tmp itself never
  // (sharedHostDir): the container's /tmp is its own tmpfs.
  static const char* kInside[] = {"/lambda", "/runtime", "/dev", "/proc", "/sys"};
  std::set<std::string> paths;
  auto consider = [&](std::string v) {
    if (v.size() < 2 || v[0] != '/') return;
    if (v.size() > 2 && v.compare(v.size() - 2, 2, "/*") == 0) v.resize(v.size() - 2);
    // Normalised and resolved for the check ("/tmp/x/..", a symlink to /tmp), exposed as named
    // (argv/env are rewritten by that spelling; the bind follows symlinks anyway).
    if (sharedHostDir(lexicallyNormalPath(v))) return;
    if (auto real = resolvedPath(v); real && sharedHostDir(*real)) return;
    for (const char* in : kInside) {
      if (isUnder(v, in)) return;
    }
    for (const auto& hp : host_ro_paths) {
      if (isUnder(v, hp)) return;
    }
    std::error_code ec;
    auto st = fs::status(v, ec);
    if (ec || !(fs::is_directory(st) || fs::is_regular_file(st))) return;
    paths.insert(v);
  };
  auto split = [&](const std::string& s, bool on_equals) {
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); ++i) {
      if (i == s.size() || s[i] == ':' || (on_equals && s[i] == '=')) {
        consider(s.substr(start, i - start));
        start = i + 1;
      }
    }
  };
  for (const auto& a : argv) split(a, true);
  for (const auto& e : env) {
    if (loadPathVariable(e)) split(e.substr(e.find('=') + 1), false);
  }
  std::vector<std::string> out;
  for (const auto& d : paths) {
    bool covered = false;
    for (const auto& o : out) covered |= isUnder(d, o);
    if (!covered) out.push_back(d);
  }
  return out;
}

// One step of the container setup, executed by the child with plain syscalls (everything is
// prepared by the parent before clone).
struct Op {
  enum Kind { kMkdir, kMount, kSymlink, kMknod, kTouch, kChown, kPivot, kHostname } kind;
  std::string a, b, c, d;  // mount: src, dst, fstype, data; symlink: target, path; mknod: path
  unsigned long flags = 0;
  mode_t mode = 0;
  dev_t dev = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  bool tolerate_exists = false;
  std::string what;  // for the error message
};

const char* cstr(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

// Generic steps are supervisor::SpawnStep ids; container ops are reported as kOpBase + index.
constexpr int kOpBase = 100;
static_assert(kOpBase >= supervisor::kSpawnStepCount);

volatile sig_atomic_t g_worker_pid = 0;
void forwardSignal(int sig) {
  if (g_worker_pid > 0) kill(g_worker_pid, sig);
}

bool runOp(const Op& op) {
  switch (op.kind) {
    case Op::kMkdir:
      return mkdir(op.a.c_str(), op.mode) == 0 || (op.tolerate_exists && errno == EEXIST);
    case Op::kMount:
      return mount(cstr(op.a), op.b.c_str(), cstr(op.c), op.flags, cstr(op.d)) == 0;
    case Op::kSymlink:
      return symlink(op.a.c_str(), op.b.c_str()) == 0;
    case Op::kMknod:
      return mknod(op.a.c_str(), op.mode, op.dev) == 0;
    case Op::kTouch: {
      int fd = open(op.a.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) return op.tolerate_exists && errno == EEXIST;
      close(fd);
      return true;
    }
    case Op::kChown:
      return chown(op.a.c_str(), op.uid, op.gid) == 0 && chmod(op.a.c_str(), op.mode) == 0;
    case Op::kPivot:
      if (chdir(op.a.c_str()) != 0) return false;
      if (syscall(SYS_pivot_root, ".", ".") != 0) return false;
      if (umount2(".", MNT_DETACH) != 0) return false;
      return chdir("/") == 0;
    case Op::kHostname:
      return sethostname(op.a.c_str(), op.a.size()) == 0;
  }
  return false;
}

bool validContainerPath(const std::string& p) {
  if (p.empty() || p[0] != '/' || p == "/") return false;
  for (const auto& part : fs::path(p)) {
    if (part == "..") return false;
  }
  return true;
}

bool under(const std::string& p, const std::string& dir) {
  return p == dir || p.rfind(dir + "/", 0) == 0;
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

class Plan {
 public:
  explicit Plan(std::string root) : root_(std::move(root)) {}
  std::vector<Op> ops;

  void mkdirs(const std::string& in_container) {
    std::string cur;
    for (const auto& part : fs::path(in_container).relative_path()) {
      cur += "/" + part.string();
      if (!made_.insert(cur).second) continue;
      Op op{Op::kMkdir};
      op.a = root_ + cur;
      op.mode = 0755;
      op.tolerate_exists = true;
      op.what = "creating " + cur;
      ops.push_back(op);
    }
  }
  void mount(const std::string& src, const std::string& in_container, const std::string& type,
             unsigned long flags, const std::string& data, const std::string& what) {
    Op op{Op::kMount};
    op.a = src;
    op.b = in_container == "/" ? root_ : root_ + in_container;
    op.c = type;
    op.flags = flags;
    op.d = data;
    op.what = what;
    ops.push_back(op);
  }
  // Bind `src` at `dst` (which must exist), read-only or writable; never suid/dev.
  void bind(const std::string& src, const std::string& dst, bool read_only,
            const std::string& what) {
    mount(src, dst, "", MS_BIND | MS_REC, "", "mounting " + what);
    unsigned long f = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0);
    mount("", dst, "", f, "", "remounting " + what + (read_only ? " read-only" : ""));
  }
  void touch(const std::string& in_container, const std::string& what) {
    Op op{Op::kTouch};
    op.a = root_ + in_container;
    op.tolerate_exists = true;
    op.what = what;
    ops.push_back(op);
  }
  void symlink(const std::string& target, const std::string& in_container) {
    Op op{Op::kSymlink};
    op.a = target;
    op.b = root_ + in_container;
    op.what = "symlink " + in_container;
    ops.push_back(op);
  }
  void mknod(const std::string& in_container, mode_t type, dev_t dev, mode_t perm, uid_t uid,
             gid_t gid) {
    Op op{Op::kMknod};
    op.a = root_ + in_container;
    op.mode = type | perm;
    op.dev = dev;
    op.what = "device node " + in_container;
    ops.push_back(op);
    Op own{Op::kChown};
    own.a = op.a;
    own.uid = uid;
    own.gid = gid;
    own.mode = perm;
    own.what = "ownership of " + in_container;
    ops.push_back(own);
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  std::set<std::string> made_;
};

}  // namespace

std::string cgroupParentFor(const std::string& root_dir) {
  // FNV-1a 64: stable across runs (std::hash is not guaranteed to be).
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : root_dir) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static const char* hex = "0123456789abcdef";
  std::string out = "evergreen/";
  for (int i = 15; i >= 0; --i) out += hex[(h >> (i * 4)) & 15];
  return out;
}

struct SharedCgroups {
  SharedCgroups(std::unique_ptr<CgroupFs> f, const CgroupOptions& o, const Log& l)
      : fs(std::move(f)), mgr(*fs, o, l) {}
  ~SharedCgroups() { mgr.removeParents(); }
  std::unique_ptr<CgroupFs> fs;
  CgroupManager mgr;
};

namespace {

// NoContainer workers in their own tracking cgroup (see ContainerSpawner::plainSpawner).
class TrackedSpawner : public supervisor::WorkerSpawner {
 public:
  TrackedSpawner(std::shared_ptr<SharedCgroups> cg, supervisor::NoContainerOptions o,
                 std::string run_id, Log log)
      : cg_(std::move(cg)), inner_(o), run_id_(std::move(run_id)), log_(std::move(log)) {}
  ~TrackedSpawner() override {
    for (auto& [pid, c] : live_) (void)cg_->mgr.remove(c);
  }

  Result<WorkerHandle> spawn(const SpawnSpec& spec) override {
    auto cg = cg_->mgr.createTracking("p" + run_id_ + "-" + std::to_string(next_++));
    if (!cg) return cg.status();
    SpawnSpec s = spec;
    s.join_cgroups = cg->procs_files;
    auto h = inner_.spawn(s);
    if (!h) {
      (void)cg_->mgr.remove(*cg);
      return h.status();
    }
    live_[h->pid] = std::move(*cg);
    return h;
  }

  std::optional<std::string> onExit(pid_t pid, int) override {
    auto it = live_.find(pid);
    if (it == live_.end()) return std::nullopt;
    // Kills what the worker left behind in its group (e.g. a daemonized child), then removes it.
    Status s = cg_->mgr.remove(it->second);
    if (!s) log_.warn(s.message());
    live_.erase(it);
    return std::nullopt;
  }

 private:
  std::shared_ptr<SharedCgroups> cg_;
  supervisor::NoContainerSpawner inner_;
  std::string run_id_;
  Log log_;
  uint64_t next_ = 1;
  std::map<pid_t, WorkerCgroup> live_;
};

}  // namespace

ContainerSpawner::ContainerSpawner(ContainerOptions opts, Log log, std::unique_ptr<CgroupFs> f)
    : opts_(std::move(opts)),
      log_(std::move(log)),
      shared_(std::make_shared<SharedCgroups>(f ? std::move(f) : std::make_unique<HostCgroupFs>(),
                                              opts_.cgroups, log_)),
      cgroups_(shared_->mgr) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  run_id_ = std::to_string(ts.tv_sec);
}

ContainerSpawner::~ContainerSpawner() {
  for (auto& [pid, l] : live_) (void)cgroups_.remove(l.cg);
}

const CgroupLayout& ContainerSpawner::layout() const { return cgroups_.layout(); }

std::unique_ptr<supervisor::WorkerSpawner> ContainerSpawner::plainSpawner(
    supervisor::NoContainerOptions o) {
  if (cgroups_.layout().track == Hierarchy::kNone) {
    return std::make_unique<supervisor::NoContainerSpawner>(o);
  }
  return std::make_unique<TrackedSpawner>(shared_, o, run_id_, log_);
}

Status ContainerSpawner::init() {
  if (opts_.state_dir.empty()) return Status::invalid("container state_dir is not set");
  rootfs_ = opts_.state_dir + "/rootfs";
  std::error_code ec;
  fs::create_directories(rootfs_, ec);
  if (ec) return Status::io("creating " + rootfs_ + ": " + ec.message());
  cgroups_.detect();
  size_t swept = cgroups_.sweep();
  if (swept > 0) {
    log_.warn("removed " + std::to_string(swept) + " leftover worker cgroup(s) of a previous run");
  }
  const auto& l = cgroups_.layout();
  log_.info("GreengrassContainer isolation: namespaces mount, pid, ipc, uts (network shared); " +
            l.describe());
  auto missing = l.missing();
  if (!missing.empty()) {
    std::string m;
    for (const auto& x : missing) m += (m.empty() ? "" : ", ") + x;
    if (opts_.limits_mandatory) {
      log_.error("cannot enforce limits: " + m +
                 "; GreengrassContainer functions are refused "
                 "(evergreen.runtime.containerLimitsMandatory is true)");
    } else {
      log_.warn("cannot enforce limits: " + m +
                " (no such cgroup controller on this host); GreengrassContainer functions run "
                "without them");
    }
  }
  return Status::ok();
}

Result<WorkerHandle> ContainerSpawner::spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return Status::invalid("spawn: empty argv");
  if (rootfs_.empty()) return Status::internal("ContainerSpawner::init() was not called");
  functions::FunctionSpec defaults;
  const functions::FunctionSpec& fn = spec.function != nullptr ? *spec.function : defaults;
  const std::string name = fn.arn.empty() ? spec.argv[0] : fn.arn;

  uid_t self = geteuid();
  uid_t uid = spec.uid ? static_cast<uid_t>(*spec.uid) : self;
  gid_t gid = spec.gid ? static_cast<gid_t>(*spec.gid) : getegid();
  if (uid == 0 && !opts_.allow_root) {
    return Status::forbidden(
        "refusing to run " + name +
        " as root: set runtime.allowFunctionsToRunAsRoot to \"yes\" or configure a RunAs uid");
  }
  if (gid == 0 && !opts_.allow_root) {
    return Status::forbidden(
        "refusing to run " + name +
        " with group root (gid 0): set runtime.allowFunctionsToRunAsRoot to \"yes\" or "
        "configure a RunAs gid");
  }
  if (self != 0) {
    return Status::forbidden(
        "GreengrassContainer needs the core to run as root (namespaces, "
        "mounts, cgroups); run " +
        name + " with IsolationMode NoContainer");
  }
  auto missing = cgroups_.layout().missing();
  if (opts_.limits_mandatory && !missing.empty()) {
    std::string m;
    for (const auto& x : missing) m += (m.empty() ? "" : ", ") + x;
    return Status::forbidden("refusing GreengrassContainer function " + name +
                             ": limits cannot be enforced on this host (" + m +
                             ") and evergreen.runtime.containerLimitsMandatory is true");
  }

  // ---- paths inside the container
  const std::string code_dir = fn.code_dir.empty() ? spec.cwd : fn.code_dir;
  const std::string lang = runtimeLanguage(fn.runtime);
  const std::string runtime_src = spec.runtime_dir.empty() ? "" : spec.runtime_dir + "/" + lang;
  auto rewrite = [&](std::string s) {
    if (!runtime_src.empty()) s = replaceAll(s, runtime_src, "/runtime/" + lang);
    if (!code_dir.empty()) s = replaceAll(s, code_dir, "/lambda");
    return s;
  };
  std::vector<std::string> argv_s, env_s;
  for (const auto& a : spec.argv) argv_s.push_back(rewrite(a));
  for (const auto& e : spec.env) {
    if (e.rfind("AWS_GG_RESOURCE_PREFIX=", 0) == 0 || e.rfind("HOME=", 0) == 0) continue;
    env_s.push_back(rewrite(e));
  }
  env_s.push_back("AWS_GG_RESOURCE_PREFIX=/");
  env_s.push_back("HOME=/tmp");

  // ---- mount plan
  Plan p(rootfs_);
  p.mount("", "/", "", MS_REC | MS_PRIVATE, "", "making mounts private");
  p.ops.back().b = "/";
  p.mount("tmpfs", "/", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755", "mounting the root");
  for (const auto& hp : opts_.host_ro_paths) {
    struct stat st;
    if (lstat(hp.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      auto target = fs::read_symlink(hp, ec);
      if (!ec) p.symlink(target.string(), hp);
    } else if (S_ISDIR(st.st_mode)) {
      p.mkdirs(hp);
      p.bind(hp, hp, true, hp);
    }
  }
  if (!code_dir.empty()) {
    p.mkdirs("/lambda");
    p.bind(code_dir, "/lambda", true, "the function code " + code_dir);
  }
  if (!runtime_src.empty() && fs::is_directory(runtime_src)) {
    p.mkdirs("/runtime/" + lang);
    p.bind(runtime_src, "/runtime/" + lang, true, "the runtime " + runtime_src);
  }
  // The exact files and directories the worker's command line and load-path variables name
  // outside the read-only host paths (the Java runtime jars, the C SDK or the token library of
  // a build tree, a node binary under /opt, ...) are made visible read-only, each at
  // /runtime/host/<n> (argv and env rewritten to match): never a parent such as the host's /tmp,
  // and never inside the container's own /tmp, which stays private and writable. HOME is that
  // private /tmp.
  {
    auto extras = extraReadOnlyPaths(argv_s, env_s, opts_.host_ro_paths);
    for (size_t i = 0; i < extras.size(); ++i) {
      const std::string inside = "/runtime/host/" + std::to_string(i);
      for (auto& a : argv_s) a = replacePathPrefix(a, extras[i], inside);
      for (auto& e : env_s) {
        if (loadPathVariable(e)) e = replacePathPrefix(e, extras[i], inside);
      }
      if (fs::is_directory(extras[i])) {
        p.mkdirs(inside);
      } else {
        p.mkdirs("/runtime/host");
        p.touch(inside, "creating " + inside);
      }
      p.bind(extras[i], inside, true, extras[i]);
    }
  }
  const std::string tmpfs_data = "size=" + std::to_string(opts_.tmp_size_bytes) + ",mode=1777";
  p.mkdirs("/tmp");
  p.mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, tmpfs_data, "mounting /tmp");
  p.mkdirs("/dev");
  p.mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755", "mounting /dev");
  struct DefaultDev {
    const char* path;
    unsigned maj, min;
  };
  std::vector<std::string> device_rules;
  for (DefaultDev d :
       {DefaultDev{"/dev/null", 1, 3}, DefaultDev{"/dev/zero", 1, 5}, DefaultDev{"/dev/full", 1, 7},
        DefaultDev{"/dev/random", 1, 8}, DefaultDev{"/dev/urandom", 1, 9}}) {
    p.mknod(d.path, S_IFCHR, makedev(d.maj, d.min), 0666, 0, 0);
    device_rules.push_back("c " + std::to_string(d.maj) + ":" + std::to_string(d.min) + " rwm");
  }
  p.symlink("/proc/self/fd", "/dev/fd");
  p.symlink("/proc/self/fd/0", "/dev/stdin");
  p.symlink("/proc/self/fd/1", "/dev/stdout");
  p.symlink("/proc/self/fd/2", "/dev/stderr");
  p.mkdirs("/dev/shm");
  p.mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, tmpfs_data,
          "mounting /dev/shm");

  std::vector<gid_t> groups = {gid};
  for (const auto& r : fn.resources) {
    if (r.group_owner_gid) groups.push_back(static_cast<gid_t>(*r.group_owner_gid));
    std::string where = "resource " + r.id + " (" + r.source + ")";
    struct stat st;
    if (stat(r.source.c_str(), &st) != 0) {
      return Status::invalid(where + ": " + strerror(errno));
    }
    if (r.kind == functions::ResourceMount::Kind::kDevice) {
      if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
        return Status::invalid(where + ": not a device node");
      }
      if (!under(r.source, "/dev") || !validContainerPath(r.source)) {
        return Status::invalid(where + ": device resources must be under /dev");
      }
      p.mkdirs(fs::path(r.source).parent_path().string());
      gid_t owner_g = r.group_owner_gid ? static_cast<gid_t>(*r.group_owner_gid) : gid;
      p.mknod(r.source, st.st_mode & S_IFMT, st.st_rdev, r.read_only ? 0440 : 0660, uid, owner_g);
      device_rules.push_back(std::string(S_ISBLK(st.st_mode) ? "b " : "c ") +
                             std::to_string(major(st.st_rdev)) + ":" +
                             std::to_string(minor(st.st_rdev)) + (r.read_only ? " r" : " rw"));
      continue;
    }
    // The group's path was checked at deploy; a symlink on the way may have changed since.
    if (auto real = resolvedPath(r.source)) {
      if (auto why = r.kind == functions::ResourceMount::Kind::kVolume
                         ? volumeSourceProblem(*real)
                         : std::optional<std::string>()) {
        return Status::invalid(where + ": resolves to " + *real +
                               ", which is not allowed: " + *why);
      }
    }
    const std::string& dst = r.destination;
    if (!validContainerPath(dst) || under(dst, "/proc") || under(dst, "/dev") ||
        under(dst, "/sys") || dst == "/lambda" || dst == "/tmp" || under(dst, "/runtime")) {
      return Status::invalid(where + ": destination path " + dst +
                             " is not allowed (absolute, not /, /proc, /dev, /sys, /lambda, "
                             "/runtime or /tmp itself)");
    }
    if (S_ISDIR(st.st_mode)) {
      p.mkdirs(dst);
    } else {
      p.mkdirs(fs::path(dst).parent_path().string());
      p.touch(dst, "creating " + dst);
    }
    bool ro = r.read_only || r.kind == functions::ResourceMount::Kind::kModel;
    p.bind(r.source, dst, ro, where + " at " + dst);
  }
  p.mount("", "/dev", "", MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755",
          "remounting /dev read-only");
  p.mkdirs("/proc");
  if (fn.access_sysfs) {
    p.mkdirs("/sys");
    p.bind("/sys", "/sys", true, "/sys");
  }
  p.mount("", "/", "", MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,mode=0755",
          "remounting the root read-only");
  Op pivot{Op::kPivot};
  pivot.a = rootfs_;
  pivot.what = "pivot_root into " + rootfs_;
  p.ops.push_back(pivot);
  Op proc{Op::kMount};
  proc.a = "proc";
  proc.b = "/proc";
  proc.c = "proc";
  proc.flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  proc.what = "mounting /proc";
  p.ops.push_back(proc);
  Op host{Op::kHostname};
  host.a = opts_.hostname;
  host.what = "sethostname";
  p.ops.push_back(host);

  // ---- cgroups
  WorkerLimits limits;
  limits.memory_bytes = static_cast<uint64_t>(fn.memory_kb) * 1024;
  limits.pids_max = opts_.pids_max;
  limits.device_rules = device_rules;
  std::string cg_name = "w" + run_id_ + "-" + std::to_string(next_++);
  auto cg = cgroups_.create(cg_name, limits);
  if (!cg) return cg.status();

  // ---- everything the child needs, as C arrays
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::vector<Op>& ops = p.ops;
  const std::vector<std::string>& procs = cg->procs_files;

  supervisor::SpawnPipes pipes;
  if (Status perr = pipes.open(); !perr) {
    (void)cgroups_.remove(*cg);
    return perr;
  }
  pipes.setChildNofileSoft(opts_.child_nofile_soft);

  long cpid = syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
                      nullptr, nullptr, nullptr, nullptr);
  if (cpid < 0) {
    int e = errno;
    pipes.closeAll();
    (void)cgroups_.remove(*cg);
    return Status::io(std::string("clone (new mount/pid/ipc/uts namespaces): ") + strerror(e));
  }
  if (cpid == 0) {
    // Child: pid 1 of the new pid namespace (the container's init). Syscalls only.
    int sfd = pipes.childSetup(spec.token_fd, spec.stdin_fd);
    // init dies with the core (and the kernel then kills everything in its pid namespace).
    supervisor::childDieWithParent(sfd);
    umask(0);
    // The cgroup.procs files are opened now (the host's cgroupfs is gone after pivot_root) and
    // written after the setup (the devices cgroup would refuse the mknod calls).
    std::array<int, 8> procs_fds{};
    size_t nprocs = procs.size() < procs_fds.size() ? procs.size() : procs_fds.size();
    for (size_t i = 0; i < nprocs; ++i) {
      procs_fds[i] = open(procs[i].c_str(), O_WRONLY | O_CLOEXEC);
      if (procs_fds[i] < 0) childFail(sfd, supervisor::kSpawnStepCgroup);
    }
    for (size_t i = 0; i < ops.size(); ++i) {
      if (!runOp(ops[i])) childFail(sfd, kOpBase + static_cast<int>(i));
    }
    // Join the worker's cgroups (limits apply to init and the worker from here on).
    for (size_t i = 0; i < nprocs; ++i) {
      if (write(procs_fds[i], "0", 1) != 1) childFail(sfd, supervisor::kSpawnStepCgroup);
      close(procs_fds[i]);
    }
    // Signals from the host (SIGTERM on stop) are forwarded to the worker.
    struct sigaction sa {};
    sa.sa_handler = forwardSignal;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaction(s, &sa, nullptr);
    pid_t worker = fork();
    if (worker < 0) childFail(sfd, supervisor::kSpawnStepFork);
    if (worker == 0) {
      for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) signal(s, SIG_DFL);
      umask(022);
      if (chdir("/lambda") != 0 && chdir("/") != 0) childFail(sfd, supervisor::kSpawnStepChdir);
      // A root worker (allowed by config) keeps root but not the capabilities that would let
      // it undo the container (mount, device nodes, modules, raw I/O).
      for (int cap : {CAP_SYS_ADMIN, CAP_MKNOD, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_BOOT,
                      CAP_SYS_TIME, CAP_SYS_PTRACE}) {
        prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
      }
      supervisor::childOwnLogPipes(uid, gid);
      if (setgroups(groups.size(), groups.data()) != 0)
        childFail(sfd, supervisor::kSpawnStepSetgroups);
      if (setgid(gid) != 0) childFail(sfd, supervisor::kSpawnStepSetgid);
      if (setuid(uid) != 0) childFail(sfd, supervisor::kSpawnStepSetuid);
      prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      execve(argv[0], argv.data(), envp.data());
      childFail(sfd, supervisor::kSpawnStepExec);
    }
    g_worker_pid = worker;
    close(sfd);
    for (int fd = 0; fd <= supervisor::kTokenFd; ++fd) close(fd);
    for (;;) {
      int st = 0;
      pid_t r = waitpid(-1, &st, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) _exit(127);
      if (r == worker) {
        if (WIFEXITED(st)) _exit(WEXITSTATUS(st));
        _exit(128 + WTERMSIG(st));
      }
    }
  }

  // Parent.
  pid_t pid = static_cast<pid_t>(cpid);
  if (auto ce = pipes.awaitExec(pid, /*kill_on_failure=*/true)) {
    (void)cgroups_.remove(*cg);
    std::string step = supervisor::spawnStepName(ce->step);
    if (ce->step >= kOpBase && static_cast<size_t>(ce->step - kOpBase) < ops.size()) {
      step = ops[static_cast<size_t>(ce->step - kOpBase)].what;
    }
    return Status::io("starting the container of " + name + " failed at " + step + ": " +
                      strerror(ce->err));
  }
  WorkerHandle h = pipes.takeHandle(pid);
  live_[pid] = Live{std::move(*cg), fn.arn, fn.memory_kb};
  return h;
}

std::optional<std::string> ContainerSpawner::onExit(pid_t pid, int status) {
  auto it = live_.find(pid);
  if (it == live_.end()) return std::nullopt;
  Live l = std::move(it->second);
  live_.erase(it);
  bool oom = cgroups_.oomKilled(l.cg);
  Status s = cgroups_.remove(l.cg);
  if (!s) log_.warn(s.message());
  if (!oom) return std::nullopt;
  std::string msg = "memory limit exceeded: the function used more than its MemorySize of " +
                    std::to_string(l.memory_kb) + " KB and was killed by the OOM killer";
  log_.error("Worker killed: " + msg + " {\"functionArn\":\"" + l.arn +
             "\",\"pid\":" + std::to_string(pid) + ",\"status\":" + std::to_string(status) + "}");
  return msg;
}

}  // namespace evg::container
