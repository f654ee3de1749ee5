#pragma once
// Reaching a function's directories as its RunAs identity when their path is not searchable by
// it (issue 10 item 2): a root under a 0700 directory (any `mktemp -d`, /root) with functions
// running as ggc_user. The child opens each such directory (O_PATH) while still root, keeps it
// on a fixed descriptor (kFirstDirFd + i, inherited across execve) and the worker's argv and
// environment name it as /proc/self/fd/<n>: the kernel follows that link without walking the
// inaccessible ancestors. Only the directories themselves (and what is below them) must be
// readable by the worker's identity.

#include <cstdint>
#include <string>
#include <vector>

namespace evg::supervisor {

// fds 0..6: /dev/null and the six log pipes; 7: the worker's token (kTokenFd); the exec-status
// pipe sits at 16 or above.
constexpr int kFirstDirFd = 8;
constexpr size_t kMaxDirFds = 7;  // fds 8..14

// Whether uid:gid (no supplementary groups, as the spawners set them) may search every
// directory from "/" down to `dir` inclusive (mode bits; uid 0 always may). On false, *blocking
// (if given) is the first directory it may not search.
bool canSearchPath(const std::string& dir, uint32_t uid, uint32_t gid, std::string* blocking);

// Whether uid:gid may list and search `dir` itself (r and x; mode bits only).
bool canReadDir(const std::string& dir, uint32_t uid, uint32_t gid);

// The directories named in argv and the environment values (path lists split on ':', `--x=`
// prefixes skipped, trailing "/*" ignored) that uid:gid can only reach through a descriptor:
// an ancestor blocks it while the directory itself is readable. At most kMaxDirFds, none below
// another. Each is rewritten in argv/env to /proc/self/fd/<kFirstDirFd + i>; when any is, the
// environment also gets NODE_PRESERVE_SYMLINKS=1 and --preserve-symlinks-main in NODE_OPTIONS
// (Node would otherwise resolve the link back to the unreachable path).
std::vector<std::string> planDirFds(std::vector<std::string>* argv, std::vector<std::string>* env,
                                    uint32_t uid, uint32_t gid);

}  // namespace evg::supervisor
