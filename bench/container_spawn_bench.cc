// Container spawn overhead: the same program started through NoContainerSpawner and through
// ContainerSpawner (namespaces, private root, cgroups), interleaved in the same run.
//
//   container_spawn_bench [iterations=200] [program=/bin/true] [--no-cgroups]
//
// --no-cgroups points the container at an empty cgroup root (namespaces + mounts only), to
// split the cost between the two.
//
// Per start it measures (1) spawn(): fork/clone until the program has exec'd (both spawners
// return only after execve succeeded), and (2) the full cycle: spawn -> exit -> waitpid ->
// onExit (cgroup removal). Prints median and p90 of each, and the container's added cost.
// Needs root (namespaces, mounts, cgroups).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "container/container_spawner.h"
#include "supervisor/worker_spawner.h"

using Clock = std::chrono::steady_clock;

namespace {

struct Sample {
  std::vector<double> spawn_us, cycle_us;
};

bool once(evg::supervisor::WorkerSpawner& sp, const evg::supervisor::SpawnSpec& spec, Sample* s) {
  auto t0 = Clock::now();
  auto h = sp.spawn(spec);
  auto t1 = Clock::now();
  if (!h) {
    std::fprintf(stderr, "spawn: %s\n", h.status().toString().c_str());
    return false;
  }
  for (auto& p : h->pipes) close(p.fd);
  int st = 0;
  waitpid(h->pid, &st, 0);
  (void)sp.onExit(h->pid, st);
  auto t2 = Clock::now();
  s->spawn_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  s->cycle_us.push_back(std::chrono::duration<double, std::micro>(t2 - t0).count());
  return true;
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  std::string prog = argc > 2 ? argv[2] : "/bin/true";
  if (geteuid() != 0) {
    std::fprintf(stderr, "container_spawn_bench needs root\n");
    return 2;
  }
  std::string state = "/tmp/evg-spawn-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(state + "/code");

  evg::functions::FunctionSpec fn;
  fn.arn = "arn:aws:lambda:us-east-1:000000000000:function:Bench:1";
  fn.code_dir = state + "/code";
  fn.isolation = evg::functions::Isolation::kGreengrassContainer;
  evg::supervisor::SpawnSpec spec;
  spec.argv = {prog};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.cwd = fn.code_dir;
  spec.uid = 1234;
  spec.gid = 1234;
  spec.function = &fn;

  evg::supervisor::NoContainerSpawner plain({});
  evg::container::ContainerOptions co;
  co.state_dir = state;
  co.cgroups.parent = "evergreen/bench-" + std::to_string(getpid());
  if (argc > 3 && std::string(argv[3]) == "--no-cgroups") {
    co.cgroups.root = state + "/no-cgroups";
    std::filesystem::create_directories(co.cgroups.root);
  }
  evg::container::ContainerSpawner cont(co, evg::Log());
  if (auto s = cont.init(); !s) {
    std::fprintf(stderr, "init: %s\n", s.toString().c_str());
    return 1;
  }
  std::printf("cgroups: %s\n", cont.layout().describe().c_str());
  Sample a, b;
  for (int i = 0; i < 10; ++i) {  // warm-up
    Sample w;
    if (!once(plain, spec, &w) || !once(cont, spec, &w)) return 1;
  }
  for (int i = 0; i < n; ++i) {
    if (!once(plain, spec, &a) || !once(cont, spec, &b)) return 1;
  }
  auto row = [](const char* name, const Sample& s) {
    std::printf(
        "%-13s spawn median %7.0f us  p90 %7.0f us | spawn+exit+cleanup median %7.0f us"
        "  p90 %7.0f us\n",
        name, pct(s.spawn_us, 0.5), pct(s.spawn_us, 0.9), pct(s.cycle_us, 0.5),
        pct(s.cycle_us, 0.9));
  };
  std::printf("%d starts each of %s (interleaved)\n", n, prog.c_str());
  row("NoContainer", a);
  row("Container", b);
  std::printf("added by the container: spawn %+.0f us (median), full cycle %+.0f us (median)\n",
              pct(b.spawn_us, 0.5) - pct(a.spawn_us, 0.5),
              pct(b.cycle_us, 0.5) - pct(a.cycle_us, 0.5));
  std::filesystem::remove_all(state);
  for (const char* c : {"memory", "pids", "devices"}) {
    std::error_code ec;
    std::filesystem::remove(std::string("/sys/fs/cgroup/") + c + "/" + co.cgroups.parent, ec);
  }
  return 0;
}
