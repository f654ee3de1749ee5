// CgroupManager against fake cgroupfs trees (files in a temp dir): pure v2, pure v1, hybrid,
// none; limits, OOM detection, removal and the start-up sweep of leftovers.
#include "container/cgroups.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace evg::container {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void put(const std::string& p, const std::string& v) {
  fs::create_directories(fs::path(p).parent_path());
  std::ofstream(p) << v;
}

// A fake cgroupfs: real files in a temp dir. makeGroup populates the interface files the kernel
// would show for the hierarchy kind; removeGroup refuses (EBUSY) while cgroup.procs lists pids,
// like rmdir on a populated cgroup; killPid "kills" by dropping the pid from every cgroup.procs.
class FakeCgroupFs : public HostCgroupFs {
 public:
  explicit FakeCgroupFs(std::string root) : root_(std::move(root)) {}
  Status write(const std::string& path, const std::string& value) override {
    writes.emplace_back(path, value);
    if (fail_writes.count(fs::path(path).filename().string())) {
      return Status::io("write " + path + ": Permission denied");
    }
    put(path, value);
    return Status::ok();
  }
  Status makeGroup(const std::string& path) override {
    if (fs::exists(path)) return Status::ok();
    fs::create_directories(path);
    put(path + "/cgroup.procs", "");
    bool v2 = fs::exists(fs::path(path).parent_path() / "cgroup.controllers") ||
              fs::exists(fs::path(path).parent_path() / "cgroup.subtree_control");
    if (v2) {
      put(path + "/cgroup.controllers", "memory pids");
      put(path + "/cgroup.subtree_control", "");
      put(path + "/memory.max", "max");
      put(path + "/memory.swap.max", "max");
      put(path + "/memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
      put(path + "/pids.max", "max");
    } else if (path.find("/memory/") != std::string::npos) {
      put(path + "/memory.limit_in_bytes", "9223372036854771712");
      put(path + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    }
    return Status::ok();
  }
  Status removeGroup(const std::string& path) override {
    if (!fs::exists(path)) return Status::ok();
    if (!slurp(path + "/cgroup.procs").empty()) return Status::busy("rmdir " + path + ": busy");
    for (const auto& e : fs::directory_iterator(path)) {
      if (e.is_directory()) return Status::busy("rmdir " + path + ": has children");
    }
    fs::remove_all(path);
    return Status::ok();
  }
  void killPid(pid_t pid) override {
    killed.insert(pid);
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      if (e.path().filename() == "cgroup.procs") {
        std::string t = slurp(e.path());
        std::string me = std::to_string(pid) + "\n";
        auto pos = t.find(me);
        if (pos != std::string::npos) {
          t.erase(pos, me.size());
          put(e.path(), t);
        }
      }
    }
  }
  std::string root_;
  std::vector<std::pair<std::string, std::string>> writes;
  std::set<std::string> fail_writes;
  std::set<pid_t> killed;
};

class CgroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = (fs::temp_directory_path() /
            ("evg-cg-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(root);
    fs::create_directories(root);
    fake = std::make_unique<FakeCgroupFs>(root);
  }
  void TearDown() override { fs::remove_all(root); }

  void makeV2(const std::string& at, const std::string& controllers) {
    put(at + "/cgroup.controllers", controllers);
    put(at + "/cgroup.subtree_control", "");
    put(at + "/cgroup.procs", "1\n");
  }
  void makeV1(const std::string& ctrl) {
    put(root + "/" + ctrl + "/cgroup.procs", "1\n");
    if (ctrl == "memory") {
      put(root + "/memory/memory.limit_in_bytes", "9223372036854771712");
      put(root + "/memory/memory.memsw.limit_in_bytes", "9223372036854771712");
    }
    if (ctrl == "devices") put(root + "/devices/devices.allow", "");
  }
  CgroupManager manager() {
    CgroupOptions o;
    o.root = root;
    o.parent = "evergreen/abc";
    return CgroupManager(*fake, o, Log());
  }

  std::string root;
  std::unique_ptr<FakeCgroupFs> fake;
};

TEST_F(CgroupsTest, PureV2EnablesControllersAndWritesLimits) {
  makeV2(root, "cpuset cpu io memory hugetlb pids rdma");
  auto m = manager();
  m.detect();
  EXPECT_EQ(m.layout().mode, "v2");
  EXPECT_EQ(m.layout().memory, Hierarchy::kV2);
  EXPECT_EQ(m.layout().pids, Hierarchy::kV2);
  EXPECT_TRUE(m.layout().missing().empty());
  // Controllers enabled at each level down to the parent.
  EXPECT_EQ(slurp(root + "/cgroup.subtree_control"), "+memory +pids");
  EXPECT_EQ(slurp(root + "/evergreen/cgroup.subtree_control"), "+memory +pids");
  EXPECT_EQ(slurp(root + "/evergreen/abc/cgroup.subtree_control"), "+memory +pids");

  WorkerLimits lim;
  lim.memory_bytes = 32 << 20;
  lim.pids_max = 64;
  lim.device_rules = {"c 1:3 rwm"};  // no devices files on v2: ignored
  auto cg = m.create("w1", lim);
  ASSERT_TRUE(cg.isOk()) << cg.status().toString();
  std::string d = root + "/evergreen/abc/w1";
  EXPECT_EQ(slurp(d + "/memory.max"), std::to_string(32 << 20));
  EXPECT_EQ(slurp(d + "/memory.swap.max"), "0");
  EXPECT_EQ(slurp(d + "/pids.max"), "64");
  EXPECT_EQ(cg->procs_files, std::vector<std::string>{d + "/cgroup.procs"});
  EXPECT_FALSE(fs::exists(d + "/devices.deny"));

  EXPECT_FALSE(m.oomKilled(*cg));
  put(d + "/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  EXPECT_TRUE(m.oomKilled(*cg));

  ASSERT_TRUE(m.remove(*cg).isOk());
  EXPECT_FALSE(fs::exists(d));
  EXPECT_TRUE(fs::exists(root + "/evergreen/abc"));
}

TEST_F(CgroupsTest, PureV2WithoutMemoryControllerReportsMissing) {
  makeV2(root, "cpu io pids");
  auto m = manager();
  m.detect();
  EXPECT_EQ(m.layout().memory, Hierarchy::kNone);
  EXPECT_EQ(m.layout().pids, Hierarchy::kV2);
  ASSERT_EQ(m.layout().missing(), std::vector<std::string>{"memory (MemorySize)"});
  EXPECT_NE(m.layout().describe().find("memory: none"), std::string::npos);
  auto cg = m.create("w1", WorkerLimits{});
  ASSERT_TRUE(cg.isOk());
  EXPECT_EQ(cg->memory, Hierarchy::kNone);
  EXPECT_FALSE(fs::exists(root + "/evergreen/abc/w1/memory.max") &&
               slurp(root + "/evergreen/abc/w1/memory.max") != "max");
  EXPECT_FALSE(m.oomKilled(*cg));
}

TEST_F(CgroupsTest, V2SubtreeControlRefusedDowngradesToMissing) {
  makeV2(root, "memory pids");
  fake->fail_writes.insert("cgroup.subtree_control");
  auto m = manager();
  m.detect();
  EXPECT_EQ(m.layout().memory, Hierarchy::kNone);
  EXPECT_EQ(m.layout().pids, Hierarchy::kNone);
  EXPECT_EQ(m.layout().missing().size(), 2u);
}

TEST_F(CgroupsTest, PureV1UsesSeparateTreesAndDevices) {
  makeV1("memory");
  makeV1("pids");
  makeV1("devices");
  auto m = manager();
  m.detect();
  EXPECT_EQ(m.layout().mode, "v1");
  EXPECT_EQ(m.layout().memory, Hierarchy::kV1);
  EXPECT_EQ(m.layout().devices, Hierarchy::kV1);
  EXPECT_TRUE(m.layout().v1_memsw);
  WorkerLimits lim;
  lim.memory_bytes = 16 << 20;
  lim.pids_max = 100;
  lim.device_rules = {"c 1:3 rwm", "c 10:200 r"};
  auto cg = m.create("w7", lim);
  ASSERT_TRUE(cg.isOk()) << cg.status().toString();
  EXPECT_EQ(slurp(root + "/memory/evergreen/abc/w7/memory.limit_in_bytes"),
            std::to_string(16 << 20));
  EXPECT_EQ(slurp(root + "/memory/evergreen/abc/w7/memory.memsw.limit_in_bytes"),
            std::to_string(16 << 20));
  EXPECT_EQ(slurp(root + "/pids/evergreen/abc/w7/pids.max"), "100");
  EXPECT_EQ(slurp(root + "/devices/evergreen/abc/w7/devices.deny"), "a");
  // Rules are written one by one, in order.
  std::vector<std::string> allows;
  for (auto& [p, v] : fake->writes) {
    if (p.ends_with("devices.allow")) allows.push_back(v);
  }
  EXPECT_EQ(allows, lim.device_rules);
  EXPECT_EQ(cg->procs_files.size(), 3u);

  put(root + "/memory/evergreen/abc/w7/memory.oom_control",
      "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  EXPECT_TRUE(m.oomKilled(*cg));
  ASSERT_TRUE(m.remove(*cg).isOk());
  for (const char* c : {"memory", "pids", "devices"}) {
    EXPECT_FALSE(fs::exists(root + "/" + c + "/evergreen/abc/w7")) << c;
  }
}

TEST_F(CgroupsTest, HybridTakesV1ControllersAndIgnoresEmptyUnified) {
  makeV1("memory");
  makeV1("pids");
  makeV2(root + "/unified", "");
  auto m = manager();
  m.detect();
  EXPECT_EQ(m.layout().mode, "hybrid");
  EXPECT_EQ(m.layout().memory, Hierarchy::kV1);
  EXPECT_EQ(m.layout().pids, Hierarchy::kV1);
  EXPECT_EQ(m.layout().devices, Hierarchy::kNone);
  EXPECT_EQ(m.layout().v2_root, root + "/unified");
  auto cg = m.create("w1", WorkerLimits{});
  ASSERT_TRUE(cg.isOk());
  // Nothing to enforce there for a container worker (the tree only tracks NoContainer ones).
  EXPECT_FALSE(fs::exists(root + "/unified/evergreen/abc/w1"));
}

// Issue 11 item 8: NoContainer workers get a limit-free group in the tracking hierarchy (hybrid:
// the controller-less unified tree), which the sweep covers; item 7: the parents go at the end.
TEST_F(CgroupsTest, HybridTracksPlainWorkersInUnifiedAndRemovesParents) {
  makeV1("memory");
  makeV1("pids");
  makeV2(root + "/unified", "");
  auto m = manager();
  m.detect();
  EXPECT_EQ(m.layout().track, Hierarchy::kV2);
  auto t = m.createTracking("p1");
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->procs_files,
            std::vector<std::string>{root + "/unified/evergreen/abc/p1/cgroup.procs"});
  for (const auto& [path, value] : fake->writes) {
    EXPECT_EQ(path.find("/p1/"), std::string::npos) << path;  // no limits written
  }
  put(root + "/unified/evergreen/abc/p1/cgroup.procs", "5151\n");
  // A core killed here: the next start's sweep kills and removes the tracked worker.
  auto next = manager();
  next.detect();
  EXPECT_EQ(next.sweep(), 1u);
  EXPECT_EQ(fake->killed, (std::set<pid_t>{5151}));
  EXPECT_FALSE(fs::exists(root + "/unified/evergreen/abc/p1"));
  // Stop: this core's parent goes everywhere; another core's group is untouched.
  ASSERT_TRUE(fake->makeGroup(root + "/memory/evergreen/other").isOk());
  next.removeParents();
  for (const char* h : {"/memory", "/pids", "/unified"}) {
    EXPECT_FALSE(fs::exists(root + h + "/evergreen/abc")) << h;
  }
  EXPECT_TRUE(fs::exists(root + "/memory/evergreen/other"));
}

TEST_F(CgroupsTest, PureV1TracksInPidsAndNoneHasNoTracking) {
  makeV1("memory");
  makeV1("pids");
  auto m = manager();
  m.detect();
  EXPECT_EQ(m.layout().track, Hierarchy::kV1);
  auto t = m.createTracking("p1");
  ASSERT_TRUE(t.isOk());
  EXPECT_TRUE(fs::exists(root + "/pids/evergreen/abc/p1"));
  EXPECT_FALSE(fs::exists(root + "/memory/evergreen/abc/p1"));
  fs::remove_all(root + "/memory");
  fs::remove_all(root + "/pids");
  auto none = manager();
  none.detect();
  EXPECT_EQ(none.layout().track, Hierarchy::kNone);
  EXPECT_EQ(none.createTracking("p2").status().code(), Code::kUnsupported);
}

TEST_F(CgroupsTest, HybridWithPidsOnlyInUnified) {
  makeV1("memory");
  makeV2(root + "/unified", "pids");
  auto m = manager();
  m.detect();
  EXPECT_EQ(m.layout().memory, Hierarchy::kV1);
  EXPECT_EQ(m.layout().pids, Hierarchy::kV2);
  auto cg = m.create("w1", WorkerLimits{});
  ASSERT_TRUE(cg.isOk());
  EXPECT_EQ(slurp(root + "/unified/evergreen/abc/w1/pids.max"), "512");
  EXPECT_EQ(slurp(root + "/unified/cgroup.subtree_control"), "+pids");
  EXPECT_EQ(cg->memory, Hierarchy::kV1);
}

TEST_F(CgroupsTest, NoCgroupsAtAll) {
  auto m = manager();
  m.detect();
  EXPECT_EQ(m.layout().mode, "none");
  EXPECT_EQ(m.layout().missing().size(), 2u);
  auto cg = m.create("w1", WorkerLimits{});
  ASSERT_TRUE(cg.isOk());
  EXPECT_TRUE(cg->procs_files.empty());
  EXPECT_TRUE(m.remove(*cg).isOk());
}

TEST_F(CgroupsTest, SweepKillsAndRemovesLeftoversOfThisParentOnly) {
  makeV2(root, "memory pids");
  auto m = manager();
  m.detect();
  // Leftovers of a crashed core: one still populated, one empty.
  ASSERT_TRUE(fake->makeGroup(root + "/evergreen/abc/w-old1").isOk());
  put(root + "/evergreen/abc/w-old1/cgroup.procs", "4242\n4243\n");
  ASSERT_TRUE(fake->makeGroup(root + "/evergreen/abc/w-old2").isOk());
  // Another core's worker must survive.
  ASSERT_TRUE(fake->makeGroup(root + "/evergreen/other").isOk());
  ASSERT_TRUE(fake->makeGroup(root + "/evergreen/other/w1").isOk());
  put(root + "/evergreen/other/w1/cgroup.procs", "777\n");

  EXPECT_EQ(m.sweep(), 2u);
  EXPECT_FALSE(fs::exists(root + "/evergreen/abc/w-old1"));
  EXPECT_FALSE(fs::exists(root + "/evergreen/abc/w-old2"));
  EXPECT_EQ(fake->killed, (std::set<pid_t>{4242, 4243}));
  EXPECT_TRUE(fs::exists(root + "/evergreen/other/w1"));
}

TEST_F(CgroupsTest, CreateFailureNamesTheFileAndLeavesNothing) {
  makeV1("memory");
  makeV1("pids");
  fake->fail_writes.insert("pids.max");
  auto m = manager();
  m.detect();
  auto cg = m.create("w3", WorkerLimits{});
  ASSERT_FALSE(cg.isOk());
  EXPECT_NE(cg.status().message().find("worker cgroup w3: "), std::string::npos);
  EXPECT_NE(cg.status().message().find("pids.max"), std::string::npos);
  EXPECT_FALSE(fs::exists(root + "/memory/evergreen/abc/w3"));
  EXPECT_FALSE(fs::exists(root + "/pids/evergreen/abc/w3"));
}

TEST(CgroupKeyValueTest, Parses) {
  EXPECT_EQ(cgroupKeyValue("oom 1\noom_kill 3\n", "oom_kill"), 3);
  EXPECT_EQ(cgroupKeyValue("oom 1\n", "oom_kill"), -1);
  EXPECT_EQ(cgroupKeyValue("oom_kill x\n", "oom_kill"), -1);
}

}  // namespace
}  // namespace evg::container
