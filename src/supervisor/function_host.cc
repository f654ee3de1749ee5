#include "supervisor/function_host.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "functions/arn.h"
#include "ipc/ipc_server.h"
#include "supervisor/backoff.h"
#include "supervisor/function_host_impl.h"
#include "supervisor/log_pipe.h"
#include "supervisor/runtime_command.h"
#include "supervisor/worker_registry.h"

namespace evg::lambda {

using json = nlohmann::json;

namespace {

std::string randomToken() {
  unsigned char buf[32];
  size_t got = 0;
  while (got < sizeof buf) {
    ssize_t n = getrandom(buf + got, sizeof buf - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : buf) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

}  // namespace

FunctionHost::FunctionHost(asio::io_context& io, HostOptions opts, HostHooks& hooks, Log log,
                           std::unique_ptr<supervisor::WorkerSpawner> spawner,
                           std::unique_ptr<supervisor::WorkerSpawner> container_spawner) {
  if (!spawner) {
    spawner = std::make_unique<supervisor::NoContainerSpawner>(
        supervisor::NoContainerOptions{opts.allow_root, opts.child_nofile_soft});
  }
  impl_ = std::make_unique<Impl>(io, std::move(opts), hooks, std::move(log), std::move(spawner));
  impl_->container_spawner = std::move(container_spawner);
  ipc::IpcOptions io_opts;
  io_opts.max_work_items = impl_->opts.max_work_items;
  io_opts.max_work_bytes = impl_->opts.max_work_bytes;
  impl_->core = std::make_unique<ipc::IpcCore>(io_opts, static_cast<ipc::IpcListener&>(*this),
                                               impl_->log.child("IPC"));
  ipc::IpcServerOptions so;
  so.address = impl_->opts.address;
  so.port = impl_->opts.port;
  so.max_body_bytes = impl_->opts.max_payload_bytes;
  so.max_connections = impl_->opts.max_connections;
  so.max_connections_per_peer = impl_->opts.max_connections_per_peer;
  so.header_timeout_ms = impl_->opts.ipc_header_timeout_ms;
  so.idle_timeout_ms = impl_->opts.ipc_idle_timeout_ms;
  so.body_timeout_ms = impl_->opts.ipc_body_timeout_ms;
  impl_->server =
      std::make_unique<ipc::IpcServer>(io, *impl_->core, so, impl_->log.child("IPCServer"));
  impl_->watchChildren();
}

FunctionHost::~FunctionHost() {
  impl_->server->stop();
  boost::system::error_code ec;
  impl_->sigchld.cancel(ec);
  // Last resort when stop() was not awaited: no worker may outlive the host.
  for (auto& [id, w] : impl_->workers) {
    kill(-w->pid, SIGKILL);
    int st = 0;
    waitpid(w->pid, &st, 0);
    (void)w->spawner->onExit(w->pid, st);  // releases container cgroups
    impl_->registry.remove(w->pid);
  }
  for (auto& [pid, s] : impl_->standbys) {
    kill(-pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    if (s->go_fd >= 0) close(s->go_fd);
    (void)s->spawner->onExit(pid, st);
    impl_->registry.remove(pid);
  }
}

Status FunctionHost::start() {
  Impl& d = *impl_;
  if (size_t n = d.registry.sweep(); n > 0) {
    d.log.warn("killed " + std::to_string(n) + " leftover worker(s) of a previous run");
  }
  d.token_library = supervisor::tokenLibrary(d.paths());
  if (d.token_library.empty()) {
    d.log.warn(
        "libevg_worker_env.so not found: worker tokens travel in the environment, readable "
        "through /proc/<pid>/environ by other processes of the same uid");
  }
  return d.server->start();
}
uint16_t FunctionHost::port() const { return impl_->server->port(); }

void FunctionHost::Impl::watchChildren() {
  sigchld.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    reap();
    watchChildren();
  });
}

void FunctionHost::Impl::reap() {
  std::vector<std::pair<WorkerId, int>> exited;
  for (auto& [id, w] : workers) {
    int status = 0;
    if (waitpid(w->pid, &status, WNOHANG) == w->pid) exited.emplace_back(id, status);
  }
  for (auto& [id, status] : exited) onExit(id, status);
  std::vector<std::pair<pid_t, int>> spare_exits;
  for (auto& [pid, s] : standbys) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) spare_exits.emplace_back(pid, status);
  }
  for (auto& [pid, status] : spare_exits) onStandbyExit(pid, status);
}

Result<FunctionHost::Impl::Prepared> FunctionHost::Impl::prepare(Function& f) {
  auto argv = supervisor::workerCommand(f.spec, paths());
  if (!argv) return argv.status();
  supervisor::WorkerEnvInputs in;
  in.token = randomToken();
  in.ipc_port = server->port();
  in.region = opts.region;
  in.thing_name = opts.thing_name;
  in.log_level = opts.log_level;
  in.stream_manager_port = opts.stream_manager_port;
  in.extra = opts.extra_env;
  in.token_library = token_library;
  Prepared p;
  p.token = in.token;
  // The token travels on a pipe (fd 7 of the worker), never in its initial environment.
  if (!token_library.empty()) {
    int tok[2] = {-1, -1};
    if (pipe2(tok, O_CLOEXEC) != 0) return Status::io(std::string("pipe: ") + strerror(errno));
    std::string line = in.token + "\n";
    ssize_t n = write(tok[1], line.data(), line.size());  // 65 bytes: fits any pipe buffer
    close(tok[1]);
    if (n != static_cast<ssize_t>(line.size())) {
      close(tok[0]);
      return Status::io("writing the worker token pipe failed");
    }
    p.spec.token_fd = tok[0];
  }
  p.spec.argv = std::move(*argv);
  p.spec.env = supervisor::workerEnvironment(f.spec, in, paths());
  p.spec.cwd = f.spec.code_dir;
  p.spec.uid = f.spec.run_as_uid;
  p.spec.gid = f.spec.run_as_gid;
  p.spec.function = &f.spec;
  p.spec.runtime_dir = opts.runtime_dir;
  p.backend = f.spec.isolation == functions::Isolation::kGreengrassContainer && container_spawner
                  ? container_spawner.get()
                  : spawner.get();
  return p;
}

Worker& FunctionHost::Impl::adopt(Function& f, pid_t pid, supervisor::WorkerSpawner* backend,
                                  const std::string& token,
                                  std::vector<std::shared_ptr<supervisor::LogPipeReader>> pipes,
                                  bool prewarmed) {
  auto w = std::make_unique<Worker>();
  w->id = next_worker++;
  w->arn = f.spec.arn;
  w->generation = f.generation;
  w->pid = pid;
  w->spawner = backend;
  w->started = Clock::now();
  w->prewarmed = prewarmed;
  w->timeout_timer = std::make_unique<asio::steady_timer>(io);
  w->idle_timer = std::make_unique<asio::steady_timer>(io);
  w->kill_timer = std::make_unique<asio::steady_timer>(io);
  w->pipes = std::move(pipes);
  Status st = core->addWorker(w->id, f.spec.arn, token, pid);
  if (!st) log.error("registering worker: " + st.toString());
  f.workers.push_back(w->id);
  json details{{"functionArn", f.spec.arn}, {"workerId", std::to_string(w->id)}, {"pid", pid}};
  if (prewarmed) details["standby"] = true;
  log.info("Created worker. " + details.dump());
  Worker& ref = *w;
  workers[w->id] = std::move(w);
  return ref;
}

Result<FunctionHost::Impl::Launched> FunctionHost::Impl::launch(Function& f, const Prepared& p) {
  auto h = p.backend->spawn(p.spec);
  if (p.spec.token_fd >= 0) close(p.spec.token_fd);
  if (!h) return h.status();
  registry.add(h->pid);
  Launched l;
  l.pid = h->pid;
  for (const auto& lp : h->pipes) {
    l.pipes.push_back(supervisor::LogPipeReader::start(io, lp.fd, lp.level, f.log));
  }
  return l;
}

Status FunctionHost::Impl::spawnWorker(Function& f) {
  if (stopping) return Status::busy("host is stopping");
  if (promoteStandby(f)) return Status::ok();
  auto p = prepare(f);
  if (!p) return p.status();
  auto l = launch(f, *p);
  if (!l) {
    log.error("cannot start a worker of " + f.spec.arn + ": " + l.status().message());
    if (l.status().code() != Code::kForbidden) {
      scheduleRestart(f, f.backoff.onFailure(0, false));
    }
    return l.status();
  }
  adopt(f, l->pid, p->backend, p->token, std::move(l->pipes), false);
  return Status::ok();
}

void FunctionHost::Impl::scheduleRestart(Function& f, uint32_t delay_ms) {
  if (stopping || f.restart_pending) return;
  if (f.backoff.crashLoop() && !f.crash_loop_reported) {
    f.crash_loop_reported = true;
    log.error("function " + f.spec.arn + " is in a crash loop (" +
              std::to_string(f.backoff.failures()) + " consecutive failures); retrying every " +
              std::to_string(delay_ms) + " ms");
  }
  f.restart_pending = true;
  f.restart_timer->expires_after(std::chrono::milliseconds(delay_ms));
  f.restart_timer->async_wait(
      [this, arn = f.spec.arn, gen = f.generation](const boost::system::error_code& ec) {
        if (ec) return;
        Function* fn = function(arn, gen);
        if (fn == nullptr) return;
        fn->restart_pending = false;
        if (fn->spec.pinned) {
          if (fn->workers.empty()) {
            fn->restarts++;
            (void)spawnWorker(*fn);
          }
        } else {
          maybeScale(*fn, queued(arn));
        }
      });
}

void FunctionHost::Impl::maybeScale(Function& f, size_t depth) {
  if (stopping || f.restart_pending) return;
  if (f.spec.pinned) {
    if (f.workers.empty()) (void)spawnWorker(f);
    return;
  }
  if (depth == 0) return;
  size_t starting = 0, live = 0;
  for (WorkerId id : f.workers) {
    Worker* w = worker(id);
    if (w == nullptr || w->cause != ExitCause::kNone) continue;
    ++live;
    if (!w->polled) ++starting;
  }
  if (starting >= depth) return;
  size_t limit = f.spec.max_instances != 0 ? f.spec.max_instances : opts.max_instances_per_function;
  if (live >= limit) return;
  size_t global = 0;
  Worker* idle_other = nullptr;
  for (auto& [id, w] : workers) {
    Function* g = function(w->arn, w->generation);
    if (w->cause != ExitCause::kNone || g == nullptr || g->spec.pinned) continue;
    ++global;
    auto info = core->worker(id);
    if (idle_other == nullptr && w->arn != f.spec.arn && info &&
        info->state == ipc::WorkerState::kWaiting) {
      idle_other = w.get();
    }
  }
  if (global >= opts.max_concurrent) {
    if (idle_other == nullptr) return;  // the queue waits for a worker to free up
    stopWorker(*idle_other, "stopped to make room for " + f.spec.arn + " (maxConcurrentLimit)");
  }
  (void)spawnWorker(f);
}

void FunctionHost::Impl::stopWorker(Worker& w, const std::string& reason) {
  if (w.cause == ExitCause::kNone) w.cause = ExitCause::kStopped;
  core->removeWorker(w.id, reason);
  w.idle_timer->cancel();
  w.timeout_timer->cancel();
  terminateGroup(w.pid, *w.kill_timer, opts.stop_grace_ms);
}

void FunctionHost::Impl::onTimeout(WorkerId id, const std::string& invocation) {
  Worker* w = worker(id);
  if (w == nullptr || w->current != invocation || w->cause != ExitCause::kNone) return;
  w->cause = ExitCause::kTimeout;
  if (core->timeoutWork(id, invocation)) {
    kill(-w->pid, SIGKILL);
  } else {
    w->cause = ExitCause::kNone;
  }
}

void FunctionHost::Impl::onExit(WorkerId id, int status) {
  auto it = workers.find(id);
  if (it == workers.end()) return;
  std::unique_ptr<Worker> w = std::move(it->second);
  workers.erase(it);
  w->timeout_timer->cancel();
  w->idle_timer->cancel();
  w->kill_timer->cancel();
  std::string reason = "worker exited (" + describeExit(status) + ")";
  std::optional<std::string> known = w->spawner->onExit(w->pid, status);  // e.g. OOM kill
  registry.remove(w->pid);
  if (known) reason = *known;
  ExitCause cause = w->cause == ExitCause::kNone ? ExitCause::kUnexpected : w->cause;
  w->cause = cause;
  core->removeWorker(id, reason);
  json details{{"functionArn", w->arn},
               {"workerId", std::to_string(id)},
               {"pid", w->pid},
               {"state", describeExit(status)}};
  if (known) details["cause"] = *known;
  if (cause == ExitCause::kUnexpected) {
    log.warn("Worker is ungracefully killed. " + details.dump());
  } else {
    log.info("Worker stopped. " + details.dump());
  }
  Function* f = function(w->arn, w->generation);
  if (f != nullptr) {
    f->workers.erase(std::remove(f->workers.begin(), f->workers.end(), id), f->workers.end());
    if (!stopping && cause != ExitCause::kStopped) {
      auto lifetime =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - w->started).count();
      uint32_t delay = f->backoff.onFailure(static_cast<uint64_t>(lifetime), w->did_work);
      if (!f->backoff.crashLoop()) f->crash_loop_reported = false;
      if (f->spec.pinned || queued(f->spec.arn) > 0) scheduleRestart(*f, delay);
    }
    if (!stopping) requestStandby(f->spec.arn, f->generation);
  }
  if (!stopping) rebalance();
  finishStopIfDone();
}

void FunctionHost::Impl::removeFunction(const std::string& arn, const std::string& reason) {
  auto it = functions.find(arn);
  if (it == functions.end()) return;
  Function& f = *it->second;
  f.restart_timer->cancel();
  f.standby_timer->cancel();
  if (auto s = standbys.find(f.standby); f.standby != 0 && s != standbys.end()) {
    stopStandby(*s->second, reason);
  }
  for (WorkerId id : std::vector<WorkerId>(f.workers)) {
    if (Worker* w = worker(id)) stopWorker(*w, reason);
  }
  core->removeFunction(arn);
  functions.erase(it);
}

void FunctionHost::Impl::finishStopIfDone() {
  if (!stopping || !workers.empty() || !standbys.empty() || !stop_done) return;
  server->stop();
  auto done = std::move(stop_done);
  stop_done = nullptr;
  asio::post(io, std::move(done));
}

Status FunctionHost::deploy(std::vector<FunctionSpec> specs) {
  Impl& d = *impl_;
  if (d.stopping) return Status::busy("function host is stopping");
  EVG_RETURN_IF_ERROR(supervisor::validateSpecs(specs, d.paths()));
  std::map<std::string, FunctionSpec> wanted;
  for (auto& s : specs) wanted[s.arn] = std::move(s);
  std::vector<std::string> gone;
  for (auto& [arn, f] : d.functions) {
    auto it = wanted.find(arn);
    if (it == wanted.end() || !(it->second == f->spec) || d.opts.restart_functions_on_deploy) {
      gone.push_back(arn);
    }
  }
  for (const auto& arn : gone) {
    d.log.info("undeploying " + arn);
    d.removeFunction(arn, "function undeployed or changed");
  }
  for (auto& [arn, spec] : wanted) {
    if (d.functions.count(arn) != 0) continue;  // unchanged: keep workers and queue
    auto f = std::make_unique<Function>();
    f->spec = spec;
    f->name = functions::parseFunctionArn(arn)->name;
    f->generation = d.next_generation++;
    f->backoff = supervisor::Backoff({d.opts.backoff_initial_ms, d.opts.backoff_max_ms,
                                      d.opts.crash_loop_threshold, d.opts.stable_after_ms});
    f->standby_backoff =
        supervisor::Backoff({d.opts.standby_retry_initial_ms, d.opts.standby_retry_max_ms});
    f->restart_timer = std::make_unique<asio::steady_timer>(d.io);
    f->standby_timer = std::make_unique<asio::steady_timer>(d.io);
    f->log = std::make_shared<RotatingFile>(
        supervisor::userLogPath(d.opts.root_dir, d.opts.region, d.opts.account, f->name),
        d.opts.user_log_max_bytes, d.opts.user_log_keep_files);
    d.core->addFunction({arn, spec.timeout_ms, d.opts.max_work_items});
    Function& ref = *f;
    d.functions[arn] = std::move(f);
    d.log.info("deployed " + arn + (spec.pinned ? " (pinned)" : " (on-demand)") + ": " +
               supervisor::describeRuntime(spec, d.paths()));
    if (spec.pinned) (void)d.spawnWorker(ref);
  }
  d.ensureStandbys();  // new functions, and slots freed by removed ones
  return Status::ok();
}

Status FunctionHost::invokeFromSubscription(const std::string& function_arn,
                                            const std::string& topic,
                                            std::shared_ptr<const std::string> payload) {
  std::string cc;
  if (const std::string* hit = impl_->subject_contexts.find(topic)) {
    cc = *hit;
  } else {
    cc = base64Encode(json{{"custom", {{"subject", topic}}}}.dump());
    impl_->subject_contexts.put(topic, cc);
  }
  auto id = impl_->core->submitEvent(function_arn, std::move(payload), std::move(cc));
  return id.status();
}

size_t FunctionHost::queueSpace(const std::string& function_arn) const {
  return impl_->core->queueSpace(function_arn);
}

void FunctionHost::setSystemServices(ipc::SystemServices* services) {
  impl_->core->setSystemServices(services);
}

std::optional<std::string> FunctionHost::functionForToken(const std::string& token) const {
  return impl_->core->functionForToken(token);
}

void FunctionHost::setStreamManagerPort(uint16_t port) { impl_->opts.stream_manager_port = port; }

void FunctionHost::setCredentialSource(ipc::CredentialSource* source) {
  impl_->core->setCredentialSource(source);
}

std::vector<FunctionStatus> FunctionHost::functionStatus() const {
  std::vector<FunctionStatus> out;
  for (const auto& s : impl_->core->stats()) {
    FunctionStatus fs;
    fs.arn = s.arn;
    fs.queue = s;
    if (auto it = impl_->functions.find(s.arn); it != impl_->functions.end()) {
      fs.pinned = it->second->spec.pinned;
      fs.restarts = it->second->restarts;
      fs.durations = it->second->durations;
      fs.consecutive_failures = it->second->backoff.failures();
      fs.crash_loop = it->second->backoff.crashLoop();
      fs.standby_pid = it->second->standby;
    }
    out.push_back(std::move(fs));
  }
  return out;
}

ipc::IpcServerStats FunctionHost::ipcStats() const { return impl_->server->stats(); }

size_t FunctionHost::ipcConnections() const { return impl_->server->connectionCount(); }

std::vector<WorkerStatus> FunctionHost::workerStatus() const {
  std::vector<WorkerStatus> out;
  for (const auto& w : impl_->core->workers()) {
    out.push_back({w.id, w.arn, w.pid, std::string(ipc::workerStateName(w.state))});
  }
  return out;
}

void FunctionHost::stop(std::function<void()> done) {
  Impl& d = *impl_;
  d.stopping = true;
  d.stop_done = done ? std::move(done) : [] {};
  for (auto& [arn, f] : d.functions) {
    f->restart_timer->cancel();
    f->standby_timer->cancel();
  }
  for (auto& [pid, s] : d.standbys) d.stopStandby(*s, "core stopping");
  for (auto& [id, w] : d.workers) {
    if (w->cause == ExitCause::kNone || w->cause == ExitCause::kTimeout) {
      d.stopWorker(*w, "core stopping");
    }
  }
  d.finishStopIfDone();
}

// ---------------------------------------------------------------- IpcListener

void FunctionHost::onWorkQueued(const std::string& arn, size_t queue_depth) {
  if (Function* f = impl_->function(arn)) impl_->maybeScale(*f, queue_depth);
}

void FunctionHost::onWorkStarted(WorkerId id, const std::string& invocation_id,
                                 uint32_t timeout_ms) {
  Worker* w = impl_->worker(id);
  if (w == nullptr) return;
  w->polled = true;
  w->current = invocation_id;
  w->work_started = Clock::now();
  w->idle_timer->cancel();
  w->timeout_timer->expires_after(std::chrono::milliseconds(timeout_ms));
  Impl* d = impl_.get();
  w->timeout_timer->async_wait([d, id, invocation_id](const boost::system::error_code& ec) {
    if (!ec) d->onTimeout(id, invocation_id);
  });
}

void FunctionHost::onWorkFinished(WorkerId id, const std::string& invocation_id) {
  Worker* w = impl_->worker(id);
  if (w == nullptr || w->current != invocation_id) return;
  w->current.clear();
  impl_->onWorkerUp(*w);
  if (w->cause != ExitCause::kNone) return;  // completed by a timeout, stop or exit
  w->timeout_timer->cancel();
  w->did_work = true;
  if (Function* f = impl_->function(w->arn, w->generation)) {
    f->durations.observe(std::chrono::duration<double>(Clock::now() - w->work_started).count());
    f->backoff.onSuccess();
    f->crash_loop_reported = false;
  }
}

void FunctionHost::onWorkerWaiting(WorkerId id) {
  Worker* w = impl_->worker(id);
  if (w == nullptr) return;
  w->polled = true;
  impl_->onWorkerUp(*w);
  Function* f = impl_->function(w->arn, w->generation);
  if (f == nullptr || f->spec.pinned) return;
  impl_->rebalance();  // at the global limit, this idle worker may make room for another function
  if (w->cause != ExitCause::kNone) return;
  w->idle_timer->expires_after(std::chrono::milliseconds(impl_->opts.idle_timeout_ms));
  Impl* d = impl_.get();
  w->idle_timer->async_wait([d, id](const boost::system::error_code& ec) {
    if (ec) return;
    Worker* wk = d->worker(id);
    auto info = d->core->worker(id);
    if (wk != nullptr && info && info->state == ipc::WorkerState::kWaiting &&
        wk->cause == ExitCause::kNone) {
      d->stopWorker(*wk, "idle for " + std::to_string(d->opts.idle_timeout_ms) + " ms");
    }
  });
}

void FunctionHost::onWorkerInitialized(WorkerId id, bool success, const std::string& response) {
  Worker* w = impl_->worker(id);
  if (w == nullptr) return;
  if (success) {
    impl_->log.debug("worker " + std::to_string(id) + " of " + w->arn + " initialized");
  } else {
    impl_->log.error("worker " + std::to_string(id) + " of " + w->arn +
                     " failed to initialize: " + response);
  }
}

Status FunctionHost::onPublish(const std::string& source_arn, const std::string& topic,
                               std::shared_ptr<const std::string> payload,
                               std::string_view queue_full_policy) {
  return impl_->hooks.onFunctionPublish(source_arn, topic, std::move(payload), queue_full_policy);
}

}  // namespace evg::lambda
