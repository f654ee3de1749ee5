#include "daemon/daemon.h"

#include <sqlite3.h>

#include <csignal>
#include <filesystem>

#include "config/config.h"
#include "daemon/core.h"
#include "daemon/systemd_notify.h"
#include "daemon/working_set.h"

namespace evg::daemon {

namespace asio = boost::asio;

namespace {
// SIGTERM must finish within this bound even if a peer does not let go.
constexpr auto kStopGrace = std::chrono::milliseconds(1800);
}  // namespace

int runDaemon(const DaemonOptions& opts, std::ostream& out, std::ostream& err) {
  // SQLite preallocates 20 pages (~86 KB) of page cache per connection at first use; the core's
  // stores (broker sessions, shadows, spool) are small and mostly idle: their caches grow page by
  // page instead (same cache_size bound). Must precede SQLite's initialisation.
  sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
  const RootPaths& paths = opts.paths;
  bool fresh = !std::filesystem::exists(paths.config_file);
  if (!fresh) {
    // Validate before touching anything: an invalid config is exit 2 and one message, never a
    // half start.
    auto probe = config::loadConfigFile(paths.config_file, paths.root);
    if (!probe) {
      err << paths.config_file << ": " << probe.status().message() << "\n";
      return 2;
    }
  }
  auto created = initRoot(paths);
  if (!created) {
    err << "evergreen: cannot initialise " << paths.root << ": " << created.status().message()
        << "\n";
    return 1;
  }
  for (const auto& c : *created) out << "evergreen: created " << c << "\n";
  out.flush();

  auto cfg = config::loadConfigFile(paths.config_file, paths.root);
  if (!cfg) {
    err << paths.config_file << ": " << cfg.status().message() << "\n";
    return 2;
  }
  LogOptions lo;
  lo.dir = paths.system_log_dir;
  lo.level = opts.log_level_override.value_or(cfg->evergreen.log.level);
  lo.to_stderr = cfg->evergreen.log.to_stderr;
  lo.max_file_bytes = static_cast<size_t>(cfg->evergreen.log.max_file_bytes);
  lo.keep_files = cfg->evergreen.log.keep_files;
  Logger logger(lo);
  Log log(&logger, "runtime");
  log.info("Evergreen " EVG_VERSION " starting, root " + paths.root + ", core thing " +
           cfg->core_thing.thing_name);
  if (!cfg->unused_fields.empty()) {
    std::string list;
    for (const auto& f : cfg->unused_fields) list += (list.empty() ? "" : ", ") + f;
    log.info("config.json fields accepted but not used by Evergreen: " + list);
  }

  const bool trim_startup_pages = cfg->evergreen.runtime.trim_startup_pages;
  const int trim_idle_seconds = cfg->evergreen.runtime.trim_idle_pages_seconds;
  asio::io_context io(1);
  Core core(io, paths, std::move(cfg).value(), logger);
  Status s = core.start();
  if (!s) {
    log.error("start failed: " + s.message());
    logger.flush();
    return 1;
  }
  log.info("core started");
  // From the loop, once the start-up work the core queued on it has run; then again whenever
  // the core is idle after work brought pages back (src/daemon/working_set.h).
  IdleTrimmer idle_trimmer(io, std::chrono::seconds(std::max(trim_idle_seconds, 1)),
                           [&log](const Result<PageTrim>& t, const WorkingSetSample& before) {
                             if (!t)
                               return log.warn("idle pages not unmapped: " + t.status().message());
                             if (log.enabled(LogLevel::kDebug)) {
                               log.debug("idle pages unmapped: " + std::to_string(t->resident_kb) +
                                         " KB in " + std::to_string(t->mappings) +
                                         " read-only file mappings (file-backed " +
                                         std::to_string(before.file_kb) + " KB before)");
                             }
                           });
  if (trim_startup_pages) {
    asio::post(io, [&log, &idle_trimmer, trim_idle_seconds] {
      auto t = trimReadOnlyFilePages();
      if (t) {
        log.info("start-up pages unmapped: " + std::to_string(t->resident_kb) + " KB in " +
                 std::to_string(t->mappings) + " read-only file mappings");
      } else {
        log.warn("start-up pages not unmapped: " + t.status().message());
      }
      if (trim_idle_seconds > 0) idle_trimmer.start();
    });
  }
  // Under systemd (Type=notify): READY=1 now that listeners are bound and the group is active,
  // then WATCHDOG=1 from this loop every WatchdogSec/2.
  SystemdNotifier notifier(io, Log(&logger, "runtime"));
  notifier.ready("running; root " + paths.root);
  notifier.startWatchdog();

  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer stop_timer(io);
  bool stopping = false;
  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      notifier.reloading();
      core.reloadConfig();
      notifier.ready("running; root " + paths.root);
      signals.async_wait(on_signal);
      return;
    }
    if (stopping) return;
    stopping = true;
    notifier.stopping();
    notifier.stopWatchdog();
    idle_trimmer.stop();
    log.info(std::string("caught ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
    stop_timer.expires_after(kStopGrace);
    stop_timer.async_wait([&](const boost::system::error_code& e) {
      if (e) return;
      log.warn("graceful stop took too long; exiting");
      io.stop();
    });
    core.stop([&] {
      stop_timer.cancel();
      signals.cancel();
      io.stop();
    });
  };
  signals.async_wait(on_signal);
  ::signal(SIGPIPE, SIG_IGN);
  io.run();
  logger.flush();
  return 0;
}

}  // namespace evg::daemon
