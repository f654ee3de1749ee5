#pragma once
// Lambda executables: functions with runtime arn:aws:greengrass:::runtime/function/executable,
// native programs built against the v1 C SDK header (reference ggv1-protocol.md §4.4, §8.2).
// The handler is the executable's name inside the function's code directory. The worker gets
// LD_LIBRARY_PATH=<dir of Evergreen's libaws-greengrass-core-sdk-c.so> first, which outranks the
// RUNPATH that binaries built against the genuine stub library carry (see sdk/c/README.md).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "functions/function_spec.h"
#include "supervisor/runtime_command.h"

namespace evg::supervisor {

inline constexpr std::string_view kExecutableRuntime =
    "arn:aws:greengrass:::runtime/function/executable";
inline constexpr std::string_view kCSdkLibraryName = "libaws-greengrass-core-sdk-c.so";

bool isExecutableRuntime(const std::string& runtime);

// argv {<code_dir>/<handler>}. The handler must be a relative path without ".." components
// naming an executable file; Status::invalid / Status::notFound otherwise, and Status::notFound
// when no C SDK library can be found (cSdkLibraryDir).
Result<std::vector<std::string>> executableCommand(const functions::FunctionSpec& spec,
                                                   const RuntimePaths& paths);

// The directory holding libaws-greengrass-core-sdk-c.so, first match of: $EVERGREEN_C_SDK_DIR,
// <runtime_dir>/executable (install tree), the build tree's sdk/c (EVG_BUILD_C_SDK_DIR).
// "" when none has the library.
std::string cSdkLibraryDir(const RuntimePaths& paths);

// For executables: env["LD_LIBRARY_PATH"] = <cSdkLibraryDir>[:<the function's own value>].
void addExecutableEnvironment(const functions::FunctionSpec& spec, const RuntimePaths& paths,
                              std::map<std::string, std::string>& env);

}  // namespace evg::supervisor
