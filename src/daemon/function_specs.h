#pragma once
// Deployment-time conversion of the group's Functions[] into the flat FunctionSpec values the
// function host runs: code, runtime and handler come from the function store (the group names a
// version or an alias, resolved now — re-pointing an alias changes nothing until the next deploy),
// everything else from FunctionConfiguration with v1's defaults. Blocking (store reads): call it
// off the event loop.

#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/config.h"
#include "functions/function_spec.h"
#include "functions/function_store.h"
#include "group/group.h"

namespace evg::daemon {

// Where the language runtimes live: $EVERGREEN_RUNTIME_DIR, else <exe>/../lib/evergreen/runtime
// (installed tree), else the source tree's runtime/ (build tree).
std::string findRuntimeDir();

struct RunAsIdentity {
  uint32_t uid = 0;
  uint32_t gid = 0;
};
// v1's default identity for functions without RunAs: ggc_user with ggc_group's gid (the user's
// primary gid when there is no ggc_group); nullopt when the host has no ggc_user (functions then
// run as the core).
std::optional<RunAsIdentity> lookupGgcIdentity();

struct SpecOptions {
  std::optional<RunAsIdentity> default_identity = lookupGgcIdentity();
  uint32_t core_uid = ::geteuid();
  uint32_t core_gid = ::getegid();
};

// Errors name the element: `Functions[Id=f1].FunctionArn: ...`. GreengrassContainer functions
// get their ResourceAccessPolicies as FunctionSpec::resources (ML models: a local directory,
// S3Uri file:///dir or <root>/resources/<ResourceId>); NoContainer ones do not (v1), which is
// reported through `warnings` when given. A function that would run as another uid than the
// core's and cannot list its own code directory is refused (Forbidden) naming the function, the
// uid and the directory; directories above it need not be searchable by that uid (the spawners
// reach them through a descriptor or a bind mount, see supervisor/dir_access.h).
Result<std::vector<functions::FunctionSpec>> functionSpecsForGroup(
    const group::Group& g, const functions::FunctionStore& store, const config::CoreConfig& cfg,
    std::vector<std::string>* warnings = nullptr, const SpecOptions& opts = SpecOptions{});

}  // namespace evg::daemon
