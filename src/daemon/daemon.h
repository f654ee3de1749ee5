#pragma once
// The core process: one Asio io_context thread owns the broker, the routing table, the function
// host and the control channel. `runDaemon` loads and validates config.json (exit 2 with one
// message naming the JSON path on error — never a half start), initialises an empty root, starts
// every listener, activates the staged/active group and runs until SIGTERM/SIGINT (graceful stop,
// exit 0). SIGHUP re-reads config.json. See README.md in this folder for the flow.

#include <optional>
#include <ostream>

#include "base/log.h"
#include "daemon/root.h"

namespace evg::daemon {

struct DaemonOptions {
  RootPaths paths;
  std::optional<LogLevel> log_level_override;
};

int runDaemon(const DaemonOptions& opts, std::ostream& out, std::ostream& err);

}  // namespace evg::daemon
