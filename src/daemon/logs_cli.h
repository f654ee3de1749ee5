#pragma once
// `evergreen logs [--function NAME | --component NAME] [-f] [--since WHEN] [--lines N]`: reads the
// core's rotated log files (v1's layout) under a root:
//   system logs  DIR/var/log/system/<component>.log (+ .log.1 ... older rotations)
//   user logs    DIR/var/log/user/<region>/<account>/<function>.log (+ rotations)
// Without a selector every system component is shown, merged by time. Rotated files are read
// oldest first, so the output is chronological. --since takes a duration (30s, 10m, 2h, 1d) or an
// ISO-8601 time (2026-12-04T18:00:00, optionally with .mmm and Z/+hh:mm). -f keeps printing new
// lines (following rotations) until interrupted.

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::daemon {

struct LogsOptions {
  std::string root;
  std::string function;   // name or Lambda ARN (qualifier ignored)
  std::string component;  // system log component, e.g. runtime, GGConnManager
  bool follow = false;
  std::optional<int64_t> since_ms;  // epoch milliseconds
  std::optional<size_t> lines;      // the last N lines of history (0: none, e.g. with -f)
  int poll_ms = 250;
};

// The current (unrotated) log files the selection names; an error lists what exists instead.
Result<std::vector<std::string>> selectLogFiles(const LogsOptions& o);
// base.N ... base.1, base: the files of one log, oldest first (only those that exist).
std::vector<std::string> rotationChain(const std::string& base);
// "[2026-12-04T18:24:02.123+00:00][INFO]-..." -> epoch ms; nullopt for a continuation line.
std::optional<int64_t> lineTimeMs(std::string_view line);
// "30s" | "10m" | "2h" | "1d" (relative to now_ms) or an ISO-8601 time (local time if no offset).
Result<int64_t> parseSince(const std::string& s, int64_t now_ms);

int runLogs(const LogsOptions& o, std::ostream& out, std::ostream& err);

}  // namespace evg::daemon
