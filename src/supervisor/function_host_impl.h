#pragma once
// FunctionHost internals shared by function_host.cc (deploy, workers, IPC listener) and
// function_host_standby.cc (standby workers). Not part of the module's interface.

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/memo_cache.h"
#include "ipc/ipc_core.h"
#include "ipc/ipc_server.h"
#include "supervisor/backoff.h"
#include "supervisor/function_host.h"
#include "supervisor/log_pipe.h"
#include "supervisor/runtime_command.h"
#include "supervisor/worker_registry.h"

namespace evg::lambda {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using ipc::WorkerId;

enum class ExitCause { kNone, kUnexpected, kTimeout, kStopped };

// SIGTERM to the process group of `pid` now, SIGKILL after grace_ms unless `timer` is cancelled
// first (the process was reaped).
inline void terminateGroup(pid_t pid, asio::steady_timer& timer, uint32_t grace_ms) {
  kill(-pid, SIGTERM);
  timer.expires_after(std::chrono::milliseconds(grace_ms));
  timer.async_wait([pid](const boost::system::error_code& ec) {
    if (!ec) kill(-pid, SIGKILL);
  });
}

inline std::string describeExit(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal: " + std::string(strsignal(WTERMSIG(status)));
  return "status " + std::to_string(status);
}

struct Worker {
  WorkerId id = 0;
  std::string arn;
  uint64_t generation = 0;
  pid_t pid = -1;
  supervisor::WorkerSpawner* spawner = nullptr;  // the backend that started it
  Clock::time_point started;
  Clock::time_point work_started;  // current invocation handed over (duration histogram)
  std::unique_ptr<asio::steady_timer> timeout_timer, idle_timer, kill_timer;
  std::string current;
  bool polled = false;
  bool did_work = false;
  bool prewarmed = false;    // promoted from a standby
  bool followed_up = false;  // onWorkerUp ran (the function's next standby was asked for)
  ExitCause cause = ExitCause::kNone;
  std::vector<std::shared_ptr<supervisor::LogPipeReader>> pipes;
};

struct Function {
  FunctionSpec spec;
  std::string name;
  uint64_t generation = 0;
  std::shared_ptr<RotatingFile> log;
  supervisor::Backoff backoff;
  std::unique_ptr<asio::steady_timer> restart_timer;
  bool restart_pending = false;
  bool crash_loop_reported = false;
  uint32_t restarts = 0;
  DurationHistogram durations;
  std::vector<WorkerId> workers;
  // Standby worker (function_host_standby.cc): the pid of this function's, 0 when none; the
  // timer restarting one that exited unasked, with its doubling delay (reset by a promotion).
  pid_t standby = 0;
  std::unique_ptr<asio::steady_timer> standby_timer;
  bool standby_retry_pending = false;
  supervisor::Backoff standby_backoff;
};

// A worker started ahead of need: interpreter/VM and our runtime loaded, blocked reading its
// stdin (the read end of `go_fd`). Not known to the IPC core (its token opens nothing) until it
// is promoted to a Worker; a start byte then lets it load the user's code and poll.
struct Standby {
  pid_t pid = -1;
  std::string arn;
  uint64_t generation = 0;
  supervisor::WorkerSpawner* spawner = nullptr;
  std::string token;
  int go_fd = -1;  // write end of the worker's stdin; closing it unasked makes the worker exit
  bool stopping = false;
  std::unique_ptr<asio::steady_timer> kill_timer;
  std::vector<std::shared_ptr<supervisor::LogPipeReader>> pipes;
};

struct FunctionHost::Impl {
  Impl(asio::io_context& io_, HostOptions o, HostHooks& h, Log l,
       std::unique_ptr<supervisor::WorkerSpawner> s)
      : io(io_),
        opts(std::move(o)),
        hooks(h),
        log(std::move(l)),
        spawner(std::move(s)),
        sigchld(io_, SIGCHLD),
        registry(opts.worker_registry_dir, log.child("Workers")) {}

  asio::io_context& io;
  HostOptions opts;
  HostHooks& hooks;
  Log log;
  std::unique_ptr<supervisor::WorkerSpawner> spawner;
  std::unique_ptr<supervisor::WorkerSpawner> container_spawner;  // may be null
  std::unique_ptr<ipc::IpcCore> core;
  std::unique_ptr<ipc::IpcServer> server;
  asio::signal_set sigchld;
  supervisor::WorkerRegistry registry;
  std::string token_library;  // "" -> tokens travel in the environment (warned at start)
  std::map<std::string, std::unique_ptr<Function>> functions;
  std::map<WorkerId, std::unique_ptr<Worker>> workers;
  WorkerId next_worker = 1;
  uint64_t next_generation = 1;
  bool stopping = false;
  std::function<void()> stop_done;
  // Subscription-triggered invocations' client contexts, base64 {"custom":{"subject":topic}},
  // by topic: the same few topics trigger a function again and again. Bounded (cleared when
  // full) at kSubjectContextCacheEntries topics of at most kSubjectContextCacheTopicBytes.
  static constexpr size_t kSubjectContextCacheEntries = 256;
  static constexpr size_t kSubjectContextCacheTopicBytes = 256;
  MemoCache<std::string> subject_contexts{kSubjectContextCacheEntries,
                                          kSubjectContextCacheTopicBytes};

  supervisor::RuntimePaths paths() const {
    supervisor::RuntimePaths p;
    p.runtime_dir = opts.runtime_dir;
    p.python3 = opts.python3;
    p.token_library = opts.token_library;
    p.interpreters = opts.interpreters;
    return p;
  }
  // Standby workers by pid (also those being stopped, until reaped).
  std::map<pid_t, std::unique_ptr<Standby>> standbys;
  Worker* worker(WorkerId id) {
    auto it = workers.find(id);
    return it == workers.end() ? nullptr : it->second.get();
  }
  Function* function(const std::string& arn, uint64_t generation = 0) {
    auto it = functions.find(arn);
    if (it == functions.end()) return nullptr;
    if (generation != 0 && it->second->generation != generation) return nullptr;
    return it->second.get();
  }

  // One prepared start of a worker of `f`: argv, environment, identity, token on a pipe.
  struct Prepared {
    supervisor::SpawnSpec spec;
    std::string token;
    supervisor::WorkerSpawner* backend = nullptr;
  };
  Result<Prepared> prepare(Function& f);
  // Starts what prepare() made (the spawner owns the rest of the spec): the token pipe's read end
  // is closed, the pid recorded in the worker registry, the log pipes read into f's user log.
  struct Launched {
    pid_t pid = -1;
    std::vector<std::shared_ptr<supervisor::LogPipeReader>> pipes;
  };
  Result<Launched> launch(Function& f, const Prepared& p);
  // Registers a started process as a worker of `f` (IPC core, log pipes, timers).
  Worker& adopt(Function& f, pid_t pid, supervisor::WorkerSpawner* backend,
                const std::string& token,
                std::vector<std::shared_ptr<supervisor::LogPipeReader>> pipes, bool prewarmed);
  // function_host_standby.cc
  bool wantsStandby(const Function& f) const;
  void ensureStandby(Function& f);
  void ensureStandbys();
  bool promoteStandby(Function& f);
  void stopStandby(Standby& s, const std::string& reason);
  void onStandbyExit(pid_t pid, int status);
  // A worker finished its first invocation or waits for work: the next standby of its function
  // may start now. Not at its first poll: that start (fork/exec on this loop, then the process's
  // CPU) would delay the very invocation the worker was started for. Posted, so that the reply
  // in progress is written first.
  void onWorkerUp(Worker& w) {
    if (w.followed_up) return;
    w.followed_up = true;
    requestStandby(w.arn, w.generation);
  }
  // Posted ensureStandby: also after a worker exit (one that crashed in its first invocation
  // never came "up", and the next invocation should still find a standby).
  void requestStandby(const std::string& arn, uint64_t generation) {
    asio::post(io, [this, arn, generation] {
      if (Function* f = function(arn, generation)) ensureStandby(*f);
    });
  }
  void watchChildren();
  void reap();
  void onExit(WorkerId id, int status);
  Status spawnWorker(Function& f);
  void maybeScale(Function& f, size_t depth);
  void scheduleRestart(Function& f, uint32_t delay_ms);
  void stopWorker(Worker& w, const std::string& reason);
  void removeFunction(const std::string& arn, const std::string& reason);
  void onTimeout(WorkerId id, const std::string& invocation);
  void finishStopIfDone();
  size_t queued(const std::string& arn) const { return core->queueDepth(arn); }
  // A worker slot may have freed up or an idle worker appeared: give functions with queued
  // work (starved at the global limit) a chance to start a worker.
  void rebalance() {
    std::vector<Function*> hungry;
    for (auto& [arn, f] : functions) {
      if (!f->spec.pinned && queued(arn) > 0) hungry.push_back(f.get());
    }
    for (Function* f : hungry) maybeScale(*f, queued(f->spec.arn));
  }
};

}  // namespace evg::lambda
