// Standby workers (issue 17, cold start): see function_host.h "Standby workers" and the module
// README. A standby is started by exactly the path a worker of its function is started by
// (prepare(): same argv, environment, identity, cgroup, namespaces, cwd, token pipe, log pipes),
// plus two differences: its stdin is a pipe from the host, and its argv ends in kStandbyArg.
// The runtime loads the interpreter/VM and our own modules, then blocks reading stdin:
//   'g'  -> it was promoted: load the user's code, report E6, poll E3 like any worker;
//   EOF  -> not needed any more (function removed, core stopping): exit 0 without user code.
// Until promoted, its token is not registered with the IPC core, so it can reach nothing.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "supervisor/function_host_impl.h"

namespace evg::lambda {

using json = nlohmann::json;

bool FunctionHost::Impl::wantsStandby(const Function& f) const {
  return !stopping && opts.max_standby_workers > 0 && !f.spec.pinned &&
         supervisor::supportsStandby(f.spec);
}

void FunctionHost::Impl::ensureStandby(Function& f) {
  if (!wantsStandby(f) || f.standby != 0 || f.standby_retry_pending || f.restart_pending) return;
  size_t live = 0;
  for (const auto& [pid, s] : standbys) {
    if (!s->stopping) ++live;
  }
  if (live >= opts.max_standby_workers) return;
  auto p = prepare(f);
  if (!p) return;  // reported when a worker is started for real
  int go[2] = {-1, -1};
  if (pipe2(go, O_CLOEXEC) != 0) {
    if (p->spec.token_fd >= 0) close(p->spec.token_fd);
    log.warn("no standby worker for " + f.spec.arn + ": pipe: " + strerror(errno));
    return;
  }
  p->spec.stdin_fd = go[0];
  p->spec.argv.push_back(supervisor::kStandbyArg);
  auto l = launch(f, *p);
  close(go[0]);
  if (!l) {
    close(go[1]);
    log.warn("cannot start a standby worker of " + f.spec.arn + ": " + l.status().message());
    return;  // the next on-demand start reports it as an error (plain spawn)
  }
  auto s = std::make_unique<Standby>();
  s->pid = l->pid;
  s->arn = f.spec.arn;
  s->generation = f.generation;
  s->spawner = p->backend;
  s->token = p->token;
  s->go_fd = go[1];
  s->kill_timer = std::make_unique<asio::steady_timer>(io);
  s->pipes = std::move(l->pipes);
  f.standby = l->pid;
  log.info("Created standby worker. " + json{{"functionArn", f.spec.arn}, {"pid", l->pid}}.dump());
  standbys[l->pid] = std::move(s);
}

void FunctionHost::Impl::ensureStandbys() {
  for (auto& [arn, f] : functions) ensureStandby(*f);
}

bool FunctionHost::Impl::promoteStandby(Function& f) {
  if (f.standby == 0) return false;
  auto it = standbys.find(f.standby);
  f.standby = 0;
  if (it == standbys.end()) return false;
  Standby& s = *it->second;
  const char start = 'g';
  if (write(s.go_fd, &start, 1) != 1) {
    // Gone (killed, crashed) but not reaped yet: EPIPE. Its exit is reported when it is reaped.
    log.warn("standby worker " + std::to_string(s.pid) + " of " + f.spec.arn + " is gone (" +
             strerror(errno) + "): starting a worker without it");
    close(s.go_fd);
    s.go_fd = -1;
    return false;
  }
  close(s.go_fd);
  s.go_fd = -1;
  f.standby_backoff.onSuccess();
  std::unique_ptr<Standby> taken = std::move(it->second);
  standbys.erase(it);
  adopt(f, taken->pid, taken->spawner, taken->token, std::move(taken->pipes), true);
  return true;
}

void FunctionHost::Impl::stopStandby(Standby& s, const std::string& reason) {
  if (s.stopping) return;
  s.stopping = true;
  if (Function* f = function(s.arn, s.generation); f != nullptr && f->standby == s.pid) {
    f->standby = 0;
  }
  log.info("Stopping standby worker. " +
           json{{"functionArn", s.arn}, {"pid", s.pid}, {"reason", reason}}.dump());
  if (s.go_fd >= 0) {
    close(s.go_fd);  // EOF on its stdin: the runtime exits 0
    s.go_fd = -1;
  }
  terminateGroup(s.pid, *s.kill_timer, opts.stop_grace_ms);
}

void FunctionHost::Impl::onStandbyExit(pid_t pid, int status) {
  auto it = standbys.find(pid);
  if (it == standbys.end()) return;
  std::unique_ptr<Standby> s = std::move(it->second);
  standbys.erase(it);
  s->kill_timer->cancel();
  if (s->go_fd >= 0) close(s->go_fd);
  std::optional<std::string> known = s->spawner->onExit(pid, status);
  registry.remove(pid);
  json details{{"functionArn", s->arn}, {"pid", pid}, {"state", describeExit(status)}};
  if (known) details["cause"] = *known;
  Function* f = function(s->arn, s->generation);
  if (s->stopping || f == nullptr) {
    log.info("Standby worker stopped. " + details.dump());
    finishStopIfDone();
    return;
  }
  // Exited unasked (killed, crashed at start-up): the function is served by plain starts until a
  // new standby is up, after a doubling delay so that a runtime that cannot start is not spun.
  if (f->standby == pid) f->standby = 0;
  // Lifetime 0: only a promotion resets the doubling, however long the standby waited.
  uint32_t delay = f->standby_backoff.onFailure(0, false);
  details["retryInMs"] = delay;
  log.warn("Standby worker exited. " + details.dump());
  f->standby_retry_pending = true;
  f->standby_timer->expires_after(std::chrono::milliseconds(delay));
  f->standby_timer->async_wait(
      [this, arn = f->spec.arn, gen = f->generation](const boost::system::error_code& ec) {
        if (ec) return;
        Function* fn = function(arn, gen);
        if (fn == nullptr) return;
        fn->standby_retry_pending = false;
        ensureStandby(*fn);
      });
}

}  // namespace evg::lambda
