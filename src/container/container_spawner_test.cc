// ContainerSpawner on the real host (needs root, namespaces and cgroups; skipped otherwise):
// what a worker sees and may do inside its container, limits, cleanup.
#include "container/container_spawner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace evg::container {
namespace {

namespace fs = std::filesystem;
using supervisor::SpawnSpec;

struct RunResult {
  int status = -1;
  std::string out, err;
  std::optional<std::string> cause;
};

class ContainerSpawnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts, cgroups)";
    base = fs::temp_directory_path() /
           ("evg-ct-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base);
    fs::create_directories(base / "code");
    fs::create_directories(base / "state");
    std::ofstream(base / "code" / "hello.txt") << "code\n";
    opts.state_dir = (base / "state").string();
    opts.cgroups.parent = "evergreen/test-" + std::to_string(getpid());
    fn.arn = "arn:aws:lambda:us-east-1:000000000000:function:T:1";
    fn.code_dir = (base / "code").string();
    fn.isolation = functions::Isolation::kGreengrassContainer;
    fn.memory_kb = 65536;
  }
  void TearDown() override {
    spawner.reset();
    std::error_code ec;
    fs::remove_all(base, ec);
    for (const char* c : {"memory", "pids", "devices", "unified", ""}) {
      fs::remove(fs::path("/sys/fs/cgroup") / c / opts.cgroups.parent, ec);
    }
  }
  ContainerSpawner& make() {
    spawner = std::make_unique<ContainerSpawner>(opts, Log());
    Status s = spawner->init();
    EXPECT_TRUE(s.isOk()) << s.toString();
    return *spawner;
  }
  Result<RunResult> run(const std::string& script, std::optional<uint32_t> uid = 1234,
                        std::optional<uint32_t> gid = 1234,
                        const std::vector<std::string>& extra_env = {},
                        const std::vector<std::string>& args = {}) {
    if (!spawner) make();
    SpawnSpec s;
    s.argv = {"/bin/sh", "-c", script, "sh"};
    s.argv.insert(s.argv.end(), args.begin(), args.end());
    s.env = {"PATH=/usr/bin:/bin", "CODE=" + fn.code_dir};
    s.env.insert(s.env.end(), extra_env.begin(), extra_env.end());
    s.cwd = fn.code_dir;
    s.uid = uid;
    s.gid = gid;
    s.function = &fn;
    auto h = spawner->spawn(s);
    if (!h) return h.status();
    RunResult r;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::vector<int> open_fds = {h->pipes[0].fd, h->pipes[1].fd};
    while (!open_fds.empty() && std::chrono::steady_clock::now() < deadline) {
      std::vector<pollfd> p;
      for (int fd : open_fds) p.push_back({fd, POLLIN, 0});
      poll(p.data(), p.size(), 200);
      for (auto& e : p) {
        if (!(e.revents & (POLLIN | POLLHUP))) continue;
        char buf[4096];
        ssize_t n = read(e.fd, buf, sizeof buf);
        if (n > 0) {
          (e.fd == h->pipes[0].fd ? r.out : r.err).append(buf, static_cast<size_t>(n));
        } else if (n == 0) {
          open_fds.erase(std::find(open_fds.begin(), open_fds.end(), e.fd));
        }
      }
    }
    waitpid(h->pid, &r.status, 0);
    for (auto& p : h->pipes) close(p.fd);
    r.cause = spawner->onExit(h->pid, r.status);
    return r;
  }
  std::string cgroupDir(const char* ctrl) {
    return "/sys/fs/cgroup/" + std::string(ctrl) + "/" + opts.cgroups.parent;
  }
  size_t workerGroups() {
    size_t n = 0;
    for (const char* c : {"memory", "pids", "devices"}) {
      std::error_code ec;
      for (auto it = fs::directory_iterator(cgroupDir(c), ec);
           !ec && it != fs::directory_iterator(); ++it) {
        if (it->is_directory()) ++n;
      }
    }
    return n;
  }

  fs::path base;
  ContainerOptions opts;
  functions::FunctionSpec fn;
  std::unique_ptr<ContainerSpawner> spawner;
};

TEST_F(ContainerSpawnerTest, PidNamespaceHostnameAndIdentity) {
  auto r = run("echo pid=$$; ls /proc | grep -c '^[0-9]'; hostname; id -u; id -g; pwd");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 0) << r->err;
  // init is pid 1, the worker pid 2; /proc lists init, the shell and ls/grep only.
  EXPECT_EQ(r->out.substr(0, r->out.find('\n')), "pid=2");
  std::istringstream in(r->out);
  std::string line;
  std::getline(in, line);
  std::getline(in, line);
  EXPECT_LE(std::stoi(line), 5) << r->out;
  std::getline(in, line);
  EXPECT_EQ(line, "evergreen");
  std::getline(in, line);
  EXPECT_EQ(line, "1234");
  std::getline(in, line);
  EXPECT_EQ(line, "1234");
  std::getline(in, line);
  EXPECT_EQ(line, "/lambda");
}

TEST_F(ContainerSpawnerTest, OnlyTmpAndShmAreWritable) {
  auto r =
      run("cat /lambda/hello.txt; for p in /x /etc/x /usr/x /lambda/x /dev/x /proc/x; do "
          "touch $p 2>/dev/null && echo WROTE $p; done; touch /tmp/ok && echo tmp-ok; "
          "touch /dev/shm/ok && echo shm-ok; echo $CODE; test -e /sys/kernel && echo SYS; "
          "test -e /home && echo HOME; test -e /root && echo ROOT; test -e /var && echo VAR; true");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 0) << r->err;
  EXPECT_EQ(r->out, "code\ntmp-ok\nshm-ok\n/lambda\n");
}

TEST_F(ContainerSpawnerTest, AccessSysfsMountsSysReadOnly) {
  fn.access_sysfs = true;
  auto r = run("test -d /sys/kernel && echo SYS; echo x > /sys/kernel/x 2>/dev/null || echo RO");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->out, "SYS\nRO\n");
}

TEST_F(ContainerSpawnerTest, VolumesAsGrantedAndUngrantedInvisible) {
  fs::create_directories(base / "vol-ro");
  fs::create_directories(base / "vol-rw");
  fs::create_directories(base / "vol-secret");
  std::ofstream(base / "vol-ro" / "f") << "ro-data\n";
  chmod((base / "vol-rw").c_str(), 0777);
  fn.resources.push_back({functions::ResourceMount::Kind::kVolume, "r1", (base / "vol-ro").string(),
                          "/data/in", true, std::nullopt});
  fn.resources.push_back({functions::ResourceMount::Kind::kVolume, "r2", (base / "vol-rw").string(),
                          "/data/out", false, std::nullopt});
  auto r =
      run("cat /data/in/f; touch /data/in/x 2>/dev/null && echo WROTE-RO; echo hi > /data/out/y && "
          "echo rw-ok; ls " +
          (base / "vol-secret").string() + " 2>/dev/null && echo SEEN; true");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->out, "ro-data\nrw-ok\n") << r->err;
  EXPECT_TRUE(fs::exists(base / "vol-rw" / "y"));
  EXPECT_FALSE(fs::exists(base / "vol-ro" / "x"));
}

TEST_F(ContainerSpawnerTest, GroupOwnerIsAddedToTheWorkersGroups) {
  fs::create_directories(base / "vol-g");
  chown((base / "vol-g").c_str(), 0, 4321);
  chmod((base / "vol-g").c_str(), 0770);
  fn.resources.push_back({functions::ResourceMount::Kind::kVolume, "g", (base / "vol-g").string(),
                          "/shared", false, 4321u});
  auto r = run("id -G; touch /shared/z && echo ok");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->out, "1234 4321\nok\n") << r->err;
}

TEST_F(ContainerSpawnerTest, BadResourcesAreRefusedWithTheirName) {
  fn.resources.push_back({functions::ResourceMount::Kind::kVolume, "missing",
                          (base / "nope").string(), "/data", true, std::nullopt});
  auto r = run("true");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("resource missing"), std::string::npos);
  fn.resources = {{functions::ResourceMount::Kind::kVolume, "bad", base.string(), "/proc/x", true,
                   std::nullopt}};
  r = run("true");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("destination path /proc/x is not allowed"),
            std::string::npos);
  EXPECT_EQ(workerGroups(), 0u);
}

TEST_F(ContainerSpawnerTest, DeviceNodesAsGranted) {
  // A private node with kmsg's numbers (1:11): writable by root on the host.
  std::string dev = "/dev/evg-test-kmsg-" + std::to_string(getpid());
  ASSERT_EQ(mknod(dev.c_str(), S_IFCHR | 0600, makedev(1, 11)), 0) << strerror(errno);
  opts.allow_root = true;
  fn.resources = {{functions::ResourceMount::Kind::kDevice, "d", dev, dev, true, std::nullopt}};
  auto ro = run("test -c " + dev + " && echo present; echo evergreen-test > " + dev +
                    " 2>/dev/null && echo WROTE; test -e /dev/sda && echo SDA; true",
                0, 0);
  fn.resources[0].read_only = false;
  auto rw = run("echo evergreen-container-test > " + dev + " && echo wrote", 0, 0);
  fn.resources.clear();
  auto none = run("test -e " + dev + " || echo absent", 0, 0);
  unlink(dev.c_str());
  ASSERT_TRUE(ro.isOk()) << ro.status().toString();
  ASSERT_TRUE(rw.isOk()) << rw.status().toString();
  ASSERT_TRUE(none.isOk());
  EXPECT_EQ(ro->out, "present\n");  // root, but the devices cgroup allows only reads
  EXPECT_EQ(rw->out, "wrote\n") << rw->err;
  EXPECT_EQ(none->out, "absent\n");
}

TEST_F(ContainerSpawnerTest, RootRefusedUnlessAllowed) {
  auto r = run("id -u", 0, 0);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kForbidden);
  EXPECT_NE(r.status().message().find("allowFunctionsToRunAsRoot"), std::string::npos);
  spawner.reset();
  opts.allow_root = true;
  r = run("id -u", 0, 0);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->out, "0\n");
}

TEST_F(ContainerSpawnerTest, OomKillIsReportedAndCgroupsRemoved) {
  make();
  if (spawner->layout().memory == Hierarchy::kNone) GTEST_SKIP() << "no memory controller";
  fn.memory_kb = 16384;
  auto big = run("/usr/bin/python3 -c \"x = b'a' * (64 << 20); print('survived')\"");
  ASSERT_TRUE(big.isOk()) << big.status().toString();
  EXPECT_EQ(big->out, "");
  ASSERT_TRUE(big->cause.has_value());
  EXPECT_NE(big->cause->find("memory limit exceeded"), std::string::npos);
  EXPECT_NE(big->cause->find("16384 KB"), std::string::npos);
  auto small = run("/usr/bin/python3 -c \"x = b'a' * (4 << 20); print('fine')\"");
  ASSERT_TRUE(small.isOk());
  EXPECT_EQ(small->out, "fine\n") << small->err;
  EXPECT_FALSE(small->cause.has_value());
  EXPECT_EQ(workerGroups(), 0u);
  EXPECT_EQ(spawner->liveWorkers(), 0u);
}

TEST_F(ContainerSpawnerTest, LeftoversOfACrashedCoreAreKilledAndRemovedAtStart) {
  make();
  SpawnSpec s;
  s.argv = {"/bin/sleep", "60"};
  s.cwd = fn.code_dir;
  s.uid = 1234;
  s.gid = 1234;
  s.function = &fn;
  auto h = spawner->spawn(s);
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  EXPECT_GT(workerGroups(), 0u);
  (void)spawner.release();  // the "crashed" core never cleans up (leaked on purpose)
  make();                   // a new core with the same parent sweeps
  EXPECT_EQ(workerGroups(), 0u);
  int st = 0;
  ASSERT_EQ(waitpid(h->pid, &st, 0), h->pid);
  EXPECT_TRUE(WIFSIGNALED(st));
  for (auto& p : h->pipes) close(p.fd);
}

// Issue 11 item 1: only the exact paths a command line / load path names are exposed (a file as a
// file); the host's /tmp never is, whatever HOME, TMPDIR or a function variable say.
TEST_F(ContainerSpawnerTest, HostTmpIsNeverExposedOnlyExactPaths) {
  std::string marker = "/tmp/evg-ct-marker-" + std::to_string(getpid());
  std::ofstream(marker) << "host\n";
  fs::create_directories(base / "tool" / "lib");
  std::ofstream(base / "tool" / "data.txt") << "tool-data\n";
  std::ofstream(base / "tool" / "other.txt") << "other\n";
  std::ofstream(base / "tool" / "lib" / "x.so") << "lib\n";
  auto r =
      run("echo home=$HOME; cat \"$1\"; ls \"$(dirname \"$1\")\" | grep -c other.txt;"
          " case $LD_LIBRARY_PATH in /runtime/host/*) echo ld-ok;; esac; ls $LD_LIBRARY_PATH;"
          " for d in / /tmp /runtime/host/*; do find $d -xdev -name '" +
              fs::path(marker).filename().string() + "' 2>/dev/null; done; echo end",
          1234, 1234,
          {"HOME=/tmp", "TMPDIR=/tmp", "MARKER=" + marker, "DIR=/tmp/",
           "LD_LIBRARY_PATH=" + (base / "tool" / "lib").string()},
          {(base / "tool" / "data.txt").string()});
  fs::remove(marker);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 0) << r->err;
  // The file alone is bound, not its directory (other.txt stays invisible); no marker anywhere.
  EXPECT_EQ(r->out, "home=/tmp\ntool-data\n0\nld-ok\nx.so\nend\n") << r->err;
}

// Issue 11 item 8: NoContainer workers of a root core sit in a tracking group each, so the next
// start kills what a killed core left behind; the parents go when the last spawner is gone.
TEST_F(ContainerSpawnerTest, PlainWorkersAreTrackedAndSweptAtStart) {
  make();
  if (spawner->layout().track == Hierarchy::kNone) GTEST_SKIP() << "no tracking hierarchy";
  auto plain = spawner->plainSpawner(supervisor::NoContainerOptions{false});
  fn.isolation = functions::Isolation::kNoContainer;
  SpawnSpec s;
  s.argv = {"/bin/sleep", "60"};
  s.cwd = fn.code_dir;
  s.uid = 1234;
  s.gid = 1234;
  s.function = &fn;
  auto h = plain->spawn(s);
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  std::ifstream cg("/proc/" + std::to_string(h->pid) + "/cgroup");
  std::string all((std::istreambuf_iterator<char>(cg)), {});
  EXPECT_NE(all.find(opts.cgroups.parent + "/p"), std::string::npos) << all;
  (void)plain.release();  // the "killed" core never cleans up (leaked on purpose)
  (void)spawner.release();
  make();  // the next start sweeps
  int st = 0;
  ASSERT_EQ(waitpid(h->pid, &st, 0), h->pid);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  for (auto& p : h->pipes) close(p.fd);
  spawner.reset();  // a clean stop removes the parent groups
  for (const char* c : {"memory", "pids", "unified"}) {
    EXPECT_FALSE(fs::exists(fs::path("/sys/fs/cgroup") / c / opts.cgroups.parent)) << c;
  }
}

TEST_F(ContainerSpawnerTest, ExecFailureNamesTheStep) {
  make();
  SpawnSpec s;
  s.argv = {"/nonexistent/prog"};
  s.cwd = fn.code_dir;
  s.uid = 1234;
  s.gid = 1234;
  s.function = &fn;
  auto h = spawner->spawn(s);
  ASSERT_FALSE(h.isOk());
  EXPECT_NE(h.status().message().find("failed at execve"), std::string::npos)
      << h.status().toString();
  EXPECT_EQ(workerGroups(), 0u);
}

TEST_F(ContainerSpawnerTest, MandatoryLimitsRefuseWhenAControllerIsMissing) {
  opts.limits_mandatory = true;
  opts.cgroups.root = (base / "no-cgroups").string();  // a host without cgroups
  fs::create_directories(opts.cgroups.root);
  auto r = run("true");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kForbidden);
  EXPECT_NE(r.status().message().find("memory (MemorySize), pids"), std::string::npos)
      << r.status().toString();
  spawner.reset();
  opts.limits_mandatory = false;  // not mandatory: runs anyway
  r = run("echo ran");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->out, "ran\n");
}

TEST(CgroupParentTest, StablePerRoot) {
  EXPECT_EQ(cgroupParentFor("/a"), cgroupParentFor("/a"));
  EXPECT_NE(cgroupParentFor("/a"), cgroupParentFor("/b"));
  EXPECT_EQ(cgroupParentFor("/a").size(), std::string("evergreen/").size() + 16);
}

}  // namespace
}  // namespace evg::container
