#pragma once
// evg::lambda::FunctionHost — the narrow, value-based facade the daemon uses to run v1 Lambda
// functions: it owns the IPC server (src/ipc), the worker supervisor and the per-function logs.
//
//   daemon ──deploy(FunctionSpec[])──▶ FunctionHost ──spawn──▶ workers (lambda_runtime.py)
//   router ──invokeFromSubscription──▶      │  ◀──HTTP E1..E7── workers
//   router ◀──HostHooks::onFunctionPublish──┘
//
// Lifecycles (reference ggv1-facts-and-anchors.md §1.5):
// * Pinned: one worker started at deploy, invocations queued FIFO; after a crash, exit or
//   timeout it is restarted with exponential backoff; repeated failures are reported as a crash
//   loop (error log + stats) and retried at the maximum backoff, never spun.
// * On-demand: workers start when work is queued and no worker waits, up to the per-function
//   (FunctionSpec::max_instances, default HostOptions::max_instances_per_function) and global
//   (max_concurrent, runtime.maxConcurrentLimit) limits; warm workers are reused; workers idle for
//   idle_timeout_ms are stopped. At the global limit an idle worker of another function is
//   stopped to make room.
// * Standby workers (pre-warmed; issue 17): each on-demand Python/Node.js/Java function keeps
//   one process started ahead of need by the same path as its workers (identity, cgroup,
//   namespaces, environment, cwd, token and log pipes are its own), which loads the interpreter
//   or VM and our runtime, then blocks on its stdin. The first worker the function needs is that
//   process: the host registers its token and writes one byte, and only the user's own code is
//   left to load. The next standby starts once that worker is done with its first invocation. A
//   standby that dies unasked is replaced after a doubling delay; meanwhile workers are plain
//   starts. Standbys are not workers: not in workerStatus(), not counted against max_concurrent.
// * Timeout (FunctionSpec::timeout_ms): the caller gets X-Amz-Function-Error: Unhandled with
//   "Task timed out after N.NN seconds"; the worker is killed (SIGKILL) and replaced; queued work
//   behind it is kept. Handler exception -> Handled; crash -> Unhandled with the exit status.
//
// Threading: every method must be called on the io_context's thread; the io_context must run
// single-threaded. SIGCHLD is handled with an asio::signal_set on that loop; only pids this host
// spawned are reaped (waitpid per pid), so other children of the daemon are left alone.

#include <array>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "base/status.h"
#include "functions/function_spec.h"
#include "ipc/ipc_core.h"
#include "ipc/ipc_server.h"
#include "supervisor/worker_spawner.h"

namespace evg::lambda {

using functions::FunctionSpec;

struct HostOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8000;     // coreThing.ggDaemonPort; 0 = ephemeral (see port())
  std::string root_dir;     // user logs under <root_dir>/var/log/user/...
  std::string runtime_dir;  // <runtime_dir>/python/lambda_runtime.py and python/lib
  std::string region, account, thing_name;
  size_t max_work_items = 1024;              // runtime.maxWorkItemCount (per function queue)
  size_t max_work_bytes = 32 * 1024 * 1024;  // evergreen.runtime.maxWorkQueueBytes (per function)
  size_t max_concurrent = 25;  // runtime.maxConcurrentLimit (on-demand workers, all functions)
  size_t max_instances_per_function = 10;
  bool allow_root = false;           // runtime.allowFunctionsToRunAsRoot == "yes"
  uint64_t child_nofile_soft = 0;    // workers' RLIMIT_NOFILE soft limit (0: the core's)
  uint32_t idle_timeout_ms = 60000;  // on-demand worker idle time before it is stopped
  uint32_t stop_grace_ms = 5000;     // SIGTERM -> SIGKILL
  uint32_t backoff_initial_ms = 500;
  uint32_t backoff_max_ms = 60000;
  uint32_t crash_loop_threshold = 5;
  uint32_t stable_after_ms = 30000;
  size_t max_payload_bytes = 6 * 1024 * 1024;
  size_t max_connections = 1024;  // IPC server bounds: see ipc::IpcServerOptions
  size_t max_connections_per_peer = 512;
  uint32_t ipc_header_timeout_ms = 10000;
  uint32_t ipc_idle_timeout_ms = 120000;
  uint32_t ipc_body_timeout_ms = 30000;
  std::string log_level = "INFO";          // LOG_LEVEL exported to workers
  size_t user_log_max_bytes = 128 * 1024;  // per file; disk bound = max * (keep + 1)
  int user_log_keep_files = 1;
  uint16_t stream_manager_port = 8088;
  std::string python3 = "/usr/bin/python3";
  // libevg_worker_env.so; empty: found under runtime_dir/preload or the build tree (see
  // supervisor::tokenLibrary). Without it tokens travel in the environment (warned at start).
  std::string token_library;
  // evergreen.runtime.interpreters: runtime id -> interpreter (runtime_command.h).
  std::map<std::string, std::string> interpreters;
  // evergreen.runtime.restartFunctionsOnDeploy: true restarts every function (pinned ones
  // included) on each deployment, as v1 did; false keeps functions the deployment leaves
  // unchanged running (their workers, queue and state).
  bool restart_functions_on_deploy = false;
  std::map<std::string, std::string> extra_env;  // added to every worker (proxies, ...)
  // evergreen.runtime.standbyWorkers: every on-demand Python, Node.js or Java function keeps one
  // worker started ahead of need (see "Standby workers" above), at most this many in all.
  // 0: off (every on-demand worker is a plain start at the time it is needed).
  size_t max_standby_workers = 8;
  uint32_t standby_retry_initial_ms = 1000;  // a standby that exited unasked is restarted after
  uint32_t standby_retry_max_ms = 60000;     // this, doubling per failure up to the max
  // Live workers are recorded here (supervisor::WorkerRegistry, e.g. <root>/var/run/workers);
  // start() kills what a killed core left behind. Empty: no registry.
  std::string worker_registry_dir;
};

class HostHooks {
 public:
  virtual ~HostHooks() = default;
  // A function published via GGRouter; source_arn is the publishing worker's function.
  // Return Status::retry(...) when AllOrError could not reach all targets (-> HTTP 429).
  virtual Status onFunctionPublish(const std::string& source_arn, const std::string& topic,
                                   std::shared_ptr<const std::string> payload,
                                   std::string_view queue_full_policy) = 0;
};

struct WorkerStatus {
  uint64_t id = 0;
  std::string arn;
  int pid = 0;
  std::string state;  // v1 health names (Starting, Waiting, Working, ...)
};

// Invocation durations of one function (work handed to a worker -> its result posted), seconds.
// Bucket bounds follow Prometheus' usual latency buckets, extended to v1's 300 s timeouts.
struct DurationHistogram {
  static constexpr std::array<double, 15> kBoundsSeconds = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300};
  std::array<uint64_t, kBoundsSeconds.size() + 1> counts{};  // per bucket, last = +Inf
  double sum_seconds = 0;
  uint64_t count = 0;
  void observe(double seconds) {
    size_t i = 0;
    while (i < kBoundsSeconds.size() && seconds > kBoundsSeconds[i]) ++i;
    ++counts[i];
    sum_seconds += seconds;
    ++count;
  }
};

struct FunctionStatus {
  std::string arn;
  DurationHistogram durations;
  bool pinned = false;
  ipc::FunctionStats queue;  // queue depth, drops, outcomes
  uint32_t restarts = 0;
  uint32_t consecutive_failures = 0;
  bool crash_loop = false;
  int standby_pid = 0;  // the function's standby worker, 0: none
};

class FunctionHost : private ipc::IpcListener {
 public:
  // `spawner` defaults to NoContainerSpawner{allow_root}. `container_spawner` (e.g.
  // evg::container::ContainerSpawner) starts functions with Isolation::kGreengrassContainer;
  // without one they run through `spawner` too.
  FunctionHost(boost::asio::io_context& io, HostOptions opts, HostHooks& hooks, Log log,
               std::unique_ptr<supervisor::WorkerSpawner> spawner = nullptr,
               std::unique_ptr<supervisor::WorkerSpawner> container_spawner = nullptr);
  ~FunctionHost() override;
  FunctionHost(const FunctionHost&) = delete;
  FunctionHost& operator=(const FunctionHost&) = delete;

  // Binds the IPC server on address:port. Status::io naming the address on failure.
  Status start();
  uint16_t port() const;

  // Makes `functions` the deployed set: validates all first (nothing changes on error: invalid
  // ARN, unsupported runtime, missing code dir/runtime), then stops removed or changed functions,
  // keeps unchanged ones (their workers and queues), and starts pinned workers of new ones.
  Status deploy(std::vector<FunctionSpec> functions);

  // Router -> function: Event invocation with client context {"custom":{"subject":topic}}.
  // Status::retry when the function's queue is full, notFound if not deployed.
  Status invokeFromSubscription(const std::string& function_arn, const std::string& topic,
                                std::shared_ptr<const std::string> payload);
  // Free queue slots of a function (0 if unknown): lets the router honour AllOrError.
  size_t queueSpace(const std::string& function_arn) const;
  // Answers the SDK's GGShadowService / GGSecretManager:1 calls (not owned; nullptr = the
  // built-in "not available" errors). See src/ipc/system_services.h.
  void setSystemServices(ipc::SystemServices* services);
  // Answers E9, the credential provider of the AWS SDKs (not owned; nullptr = 503 "no credential
  // provider configured"). See src/ipc/credential_source.h and src/tes.
  void setCredentialSource(ipc::CredentialSource* source);

  // The function ARN of a running worker's AWS_CONTAINER_AUTHORIZATION_TOKEN (nullopt: none).
  std::optional<std::string> functionForToken(const std::string& token) const;
  // STREAM_MANAGER_SERVER_PORT given to workers started from now on.
  void setStreamManagerPort(uint16_t port);

  std::vector<FunctionStatus> functionStatus() const;
  // The IPC server's counters (accepted, refused, evicted, timeouts, bad requests) and its open
  // connections.
  ipc::IpcServerStats ipcStats() const;
  size_t ipcConnections() const;
  std::vector<WorkerStatus> workerStatus() const;

  // SIGTERM every worker, SIGKILL after stop_grace_ms, close the IPC server, then call done
  // (on the loop). Further deploys are refused.
  void stop(std::function<void()> done);

  struct Impl;

 private:
  // ipc::IpcListener
  void onWorkQueued(const std::string& arn, size_t queue_depth) override;
  void onWorkStarted(ipc::WorkerId worker, const std::string& invocation_id,
                     uint32_t timeout_ms) override;
  void onWorkFinished(ipc::WorkerId worker, const std::string& invocation_id) override;
  void onWorkerWaiting(ipc::WorkerId worker) override;
  void onWorkerInitialized(ipc::WorkerId worker, bool success,
                           const std::string& response) override;
  Status onPublish(const std::string& source_arn, const std::string& topic,
                   std::shared_ptr<const std::string> payload,
                   std::string_view queue_full_policy) override;

  std::unique_ptr<Impl> impl_;
};

}  // namespace evg::lambda
