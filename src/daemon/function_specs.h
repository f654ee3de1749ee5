#pragma once
// Deployment-time conversion of the group's Functions[] into the flat FunctionSpec values the
// function host runs: code, runtime and handler come from the function store (the group names a
// version or an alias, resolved now — re-pointing an alias changes nothing until the next deploy),
// everything else from FunctionConfiguration with v1's defaults. Blocking (store reads): call it
// off the event loop.

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

// Errors name the element: `Functions[Id=f1].FunctionArn: ...`. GreengrassContainer functions
// get their ResourceAccessPolicies as FunctionSpec::resources (ML models: a local directory,
// S3Uri file:///dir or <root>/resources/<ResourceId>); NoContainer ones do not (v1), which is
// reported through `warnings` when given.
Result<std::vector<functions::FunctionSpec>> functionSpecsForGroup(
    const group::Group& g, const functions::FunctionStore& store, const config::CoreConfig& cfg,
    std::vector<std::string>* warnings = nullptr);

}  // namespace evg::daemon
