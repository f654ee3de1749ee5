#include "daemon/systemd_notify.h"

#include <dlfcn.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

namespace evg::daemon {

SystemdNotifier::SystemdNotifier(boost::asio::io_context& io, Log log)
    : io_(io), log_(std::move(log)) {
  const char* sock = std::getenv("NOTIFY_SOCKET");
  if (sock == nullptr || *sock == '\0') return;
  lib_ = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  auto watchdog_enabled =
      lib_
          ? reinterpret_cast<decltype(&::sd_watchdog_enabled)>(::dlsym(lib_, "sd_watchdog_enabled"))
          : nullptr;
  sd_notify_ =
      lib_ ? reinterpret_cast<decltype(&::sd_notify)>(::dlsym(lib_, "sd_notify")) : nullptr;
  if (sd_notify_ == nullptr || watchdog_enabled == nullptr) {
    const char* e = ::dlerror();
    log_.error(std::string("NOTIFY_SOCKET is set but libsystemd.so.0 could not be loaded (") +
               (e ? e : "?") + "): no service notifications (apt-get install libsystemd0)");
    if (lib_ != nullptr) ::dlclose(lib_);
    lib_ = nullptr;
    return;
  }
  enabled_ = true;
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is this process).
  if (watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_ = std::chrono::microseconds(usec);
  }
}

SystemdNotifier::~SystemdNotifier() {
  stopWatchdog();
  if (lib_ != nullptr) ::dlclose(lib_);
}

void SystemdNotifier::send(const std::string& state) {
  if (!enabled_) return;
  int r = sd_notify_(0, state.c_str());
  if (r < 0) log_.warn("sd_notify(" + state.substr(0, state.find('\n')) + "): " + strerror(-r));
}

void SystemdNotifier::ready(const std::string& status) {
  send("READY=1\nSTATUS=" + status);
  if (enabled_) log_.info("notified the service manager: ready");
}

void SystemdNotifier::reloading() { send("RELOADING=1\nSTATUS=reloading config.json"); }
void SystemdNotifier::stopping() { send("STOPPING=1\nSTATUS=stopping"); }
void SystemdNotifier::status(const std::string& status) { send("STATUS=" + status); }

void SystemdNotifier::startWatchdog() {
  if (!enabled_ || watchdog_.count() == 0 || timer_) return;
  timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  log_.info("watchdog: pinging the service manager every " +
            std::to_string(watchdog_.count() / 2000) + " ms (WatchdogSec " +
            std::to_string(watchdog_.count() / 1000) + " ms)");
  send("WATCHDOG=1");
  ++pings_;
  schedulePing();
}

void SystemdNotifier::stopWatchdog() {
  if (timer_) {
    timer_->cancel();
    timer_.reset();
  }
}

void SystemdNotifier::schedulePing() {
  timer_->expires_after(watchdog_ / 2);
  timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || !timer_) return;
    send("WATCHDOG=1");
    ++pings_;
    schedulePing();
  });
}

}  // namespace evg::daemon
