#pragma once
// Which root a command uses when `--root DIR` is not given (so that a packaged install needs no
// flag at all):
//   1. $EVERGREEN_ROOT
//   2. EVERGREEN_ROOT=... in /etc/default/evergreen (the file the systemd unit reads too)
//   3. /var/lib/evergreen, when that directory exists (the Debian package creates it)
// Otherwise the command asks for --root.

#include <optional>
#include <string>

#include "base/status.h"

namespace evg::daemon {

inline constexpr const char* kDefaultsFile = "/etc/default/evergreen";
inline constexpr const char* kPackageRoot = "/var/lib/evergreen";

struct DefaultRoot {
  std::string root;
  std::string source;  // "EVERGREEN_ROOT", "/etc/default/evergreen", "/var/lib/evergreen"
};

// `VAR=value` from a shell-style defaults file (comments, `export `, single/double quotes).
// nullopt when the file or the variable is absent.
std::optional<std::string> readDefaultsVar(const std::string& file, const std::string& name);

// The rules above with injectable inputs (env value may be null).
Result<DefaultRoot> resolveDefaultRoot(const char* env_root, const std::string& defaults_file,
                                       const std::string& package_root);
// The rules above for this process.
Result<DefaultRoot> defaultRoot();

}  // namespace evg::daemon
