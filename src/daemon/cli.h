#pragma once
// `evergreen` command line: every sub-command is implemented here (or forwarded to its module);
// apps/evergreen/main.cc only calls runCli.
//
// Exit codes: 0 success; 1 runtime failure; 2 usage error or invalid config/group (one message
// naming the JSON path); 3 deploy staged because no core is running (active at its next start).

#include <ostream>

namespace evg::daemon {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitInvalid = 2;
inline constexpr int kExitStaged = 3;

int runCli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace evg::daemon
