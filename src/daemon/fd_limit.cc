#include "daemon/fd_limit.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace evg::daemon {

namespace {
// Files, worker pipes (7 per worker), SQLite journals, cloud/TES sockets, log files, acceptors.
constexpr uint64_t kFdMargin = 512;

uint64_t pos(int v) { return v > 0 ? static_cast<uint64_t>(v) : 0; }
}  // namespace

uint64_t fdsNeeded(const config::CoreConfig& cfg) {
  const config::EvergreenConfig& e = cfg.evergreen;
  constexpr uint64_t kBrokerPendingConnects = 64;  // broker::BrokerOptions::max_pending_connects
  return pos(e.mqtt.max_connections) + kBrokerPendingConnects + pos(e.ipc.max_connections) +
         pos(e.stream_manager.max_connections) + pos(e.metrics.max_connections) + kFdMargin;
}

FdLimit raiseFdLimit(uint64_t needed) {
  FdLimit r;
  r.needed = needed;
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    r.message = std::string("cannot read the open-file limit: ") + std::strerror(errno);
    return r;
  }
  auto val = [](rlim_t v) { return v == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(v); };
  r.soft_before = r.soft = val(rl.rlim_cur);
  r.hard = val(rl.rlim_max);
  if (r.soft < needed) {
    const uint64_t want = std::min(needed, r.hard);
    if (want > r.soft) {
      rl.rlim_cur = static_cast<rlim_t>(want);
      if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
        r.soft = want;
      } else {
        r.message = "cannot raise the open-file limit from " + std::to_string(r.soft) + " to " +
                    std::to_string(want) + ": " + std::strerror(errno) + ". ";
      }
    }
  }
  if (r.soft < needed) {
    r.message += "open-file limit " + std::to_string(r.soft) + " (hard " + std::to_string(r.hard) +
                 ") is below the " + std::to_string(needed) +
                 " descriptors the configured connection bounds need "
                 "(evergreen.mqtt.maxConnections, evergreen.ipc.maxConnections, ...): devices "
                 "beyond it are refused at accept. Raise the hard limit (systemd: LimitNOFILE= "
                 "in the unit; shell: ulimit -Hn) or lower the bounds";
  } else if (r.soft != r.soft_before) {
    r.message = "open-file limit raised from " + std::to_string(r.soft_before) + " to " +
                std::to_string(r.soft) + " (hard " + std::to_string(r.hard) +
                ") for the configured connection bounds; workers keep " +
                std::to_string(r.soft_before);
  }
  return r;
}

}  // namespace evg::daemon
