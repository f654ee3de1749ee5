#include "daemon/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

namespace evg::daemon {

SystemdNotifier::SystemdNotifier(boost::asio::io_context& io, Log log)
    : io_(io), log_(std::move(log)) {
  const char* sock = std::getenv("NOTIFY_SOCKET");
  enabled_ = sock != nullptr && *sock != '\0';
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is this process).
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_ = std::chrono::microseconds(usec);
  }
}

SystemdNotifier::~SystemdNotifier() { stopWatchdog(); }

void SystemdNotifier::send(const std::string& state) {
  if (!enabled_) return;
  int r = sd_notify(0, state.c_str());
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
