#pragma once

// The core's open-file limit. Every connected device is a socket: with systemd's default soft
// RLIMIT_NOFILE of 1024, `evergreen.mqtt.maxConnections: 10000` would fail at accept (EMFILE)
// long before the configured bound. At start the core raises its soft limit to what its
// configured bounds need (never above the hard limit, which only root or the unit's LimitNOFILE=
// can raise) and says so when even the hard limit is too low. Workers get the original soft limit
// back (SpawnPipes::setChildNofileSoft): a function using select() must not see fds >= 1024.

#include <cstdint>
#include <string>

#include "config/config.h"

namespace evg::daemon {

// Descriptors the configured bounds can hold open at once: every listener's connection bound
// (MQTT devices + not yet CONNECTed sockets, IPC, stream manager, metrics), plus a fixed margin
// for files, pipes of workers, SQLite, the cloud and log files.
uint64_t fdsNeeded(const config::CoreConfig& cfg);

struct FdLimit {
  uint64_t soft_before = 0;  // the soft limit the core was started with
  uint64_t soft = 0;         // the soft limit now
  uint64_t hard = 0;
  uint64_t needed = 0;
  // A line for the log: "open-file limit raised from 1024 to 2400 (hard 524288)", or the warning
  // naming the setting to change when the hard limit is below `needed`; empty when nothing
  // changed and nothing is short.
  std::string message;
  bool short_of_needed() const { return soft < needed; }
};

// Raises RLIMIT_NOFILE's soft limit to min(needed, hard) when it is lower (never lowers it).
FdLimit raiseFdLimit(uint64_t needed);

}  // namespace evg::daemon
