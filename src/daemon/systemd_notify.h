#pragma once
// systemd service notifications (sd_notify(3), Debian's libsystemd): READY=1 once the core has
// bound its listeners and activated its group, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 on
// SIGTERM, and WATCHDOG=1 pings from a timer on the core's event loop while the unit has
// WatchdogSec= set (WATCHDOG_USEC in the environment). The pings come from the loop itself, so a
// loop that is blocked (a handler that never returns, a deadlock) stops pinging and systemd
// restarts the service (Restart=on-failure, after WatchdogSignal=SIGABRT).
//
// Without NOTIFY_SOCKET (a foreground `evergreen run`) every call is a no-op. libsystemd (and
// what it pulls in: libgcrypt, liblzma, libzstd, ...) is dlopen()ed only when NOTIFY_SOCKET is
// set, so a core not run by systemd does not map it (idle PSS, issue 17).

#include <chrono>
#include <memory>
#include <string>

#include "base/asio.h"
#include "base/log.h"

namespace evg::daemon {

class SystemdNotifier {
 public:
  SystemdNotifier(boost::asio::io_context& io, Log log);
  ~SystemdNotifier();

  bool enabled() const { return enabled_; }
  // Watchdog interval requested by the service manager (0 = none).
  std::chrono::microseconds watchdogInterval() const { return watchdog_; }

  void ready(const std::string& status);
  void reloading();
  void stopping();
  void status(const std::string& status);
  // Starts WATCHDOG=1 pings every interval/2 from the loop (no-op without WATCHDOG_USEC).
  void startWatchdog();
  void stopWatchdog();
  uint64_t pings() const { return pings_; }

 private:
  void send(const std::string& state);
  void schedulePing();

  boost::asio::io_context& io_;
  Log log_;
  bool enabled_ = false;
  void* lib_ = nullptr;  // dlopen("libsystemd.so.0") while enabled_
  int (*sd_notify_)(int, const char*) = nullptr;
  std::chrono::microseconds watchdog_{0};
  std::unique_ptr<boost::asio::steady_timer> timer_;
  uint64_t pings_ = 0;
};

}  // namespace evg::daemon
