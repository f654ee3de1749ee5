#pragma once
// Rules for host paths a group grants to functions (LocalDevice / LocalVolume resources), shared
// by group validation (lexical, at validate-group / deploy), the daemon (after resolving
// symlinks, at deploy) and the container backend (again at spawn, as the host may change).
//
// v1 rule (Developer Guide, "Access local resources"): volume resources are files or
// directories on the root file system except under /sys, /dev or /var (the guide's tip names
// /var, /var/run and /var/lib: mount them elsewhere first); /proc subfolders (e.g. /proc/net)
// are allowed since v1.6. Device resources are character or block devices under /dev.

#include <optional>
#include <string>

namespace evg {

// "/dev/../etc/shadow" -> "/etc/shadow", "/a//b/./c/" -> "/a/b/c" (no file-system access).
std::string lexicallyNormalPath(const std::string& absolute);

// Why `normal` (absolute, lexically normal) may not be a LocalVolume source, or nullopt:
// "/", "/proc" itself, anything under /sys or /dev, and /var, /var/run, /var/lib, /run.
std::optional<std::string> volumeSourceProblem(const std::string& normal);

// Why `normal` may not be a LocalDevice source, or nullopt: it must be under /dev/.
std::optional<std::string> deviceSourceProblem(const std::string& normal);

// realpath(3) of an existing path; nullopt when it cannot be resolved (missing).
std::optional<std::string> resolvedPath(const std::string& path);

}  // namespace evg
