#include "supervisor/executable_runtime.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace evg::supervisor {

namespace {

bool hasLibrary(const std::string& dir) {
  if (dir.empty()) return false;
  std::string lib = dir + "/" + std::string(kCSdkLibraryName);
  return access(lib.c_str(), R_OK) == 0;
}

}  // namespace

bool isExecutableRuntime(const std::string& runtime) { return runtime == kExecutableRuntime; }

std::string cSdkLibraryDir(const RuntimePaths& paths) {
  if (const char* env = std::getenv("EVERGREEN_C_SDK_DIR"); env != nullptr && hasLibrary(env)) {
    return env;
  }
  if (!paths.runtime_dir.empty() && hasLibrary(paths.runtime_dir + "/executable")) {
    return paths.runtime_dir + "/executable";
  }
#ifdef EVG_BUILD_C_SDK_DIR
  if (hasLibrary(EVG_BUILD_C_SDK_DIR)) return EVG_BUILD_C_SDK_DIR;
#endif
  return "";
}

Result<std::vector<std::string>> executableCommand(const functions::FunctionSpec& spec,
                                                   const RuntimePaths& paths) {
  const std::string& h = spec.handler;
  if (h.empty()) return Status::invalid("function " + spec.arn + " has no handler (executable)");
  if (h[0] == '/' || h == ".." || h.rfind("../", 0) == 0 || h.find("/../") != std::string::npos ||
      (h.size() >= 3 && h.compare(h.size() - 3, 3, "/..") == 0)) {
    return Status::invalid("handler \"" + h + "\" of " + spec.arn +
                           " must name an executable inside the function's code directory");
  }
  std::string exe = spec.code_dir + "/" + h;
  struct stat st {};
  if (stat(exe.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::notFound("executable of " + spec.arn + " not found: " + exe);
  }
  if (access(exe.c_str(), X_OK) != 0) {
    return Status::notFound("executable of " + spec.arn + " is not executable: " + exe);
  }
  if (cSdkLibraryDir(paths).empty()) {
    return Status::notFound("the C SDK library " + std::string(kCSdkLibraryName) +
                            " was not found (looked in $EVERGREEN_C_SDK_DIR, " + paths.runtime_dir +
                            "/executable)");
  }
  return std::vector<std::string>{exe};
}

void addExecutableEnvironment(const functions::FunctionSpec& spec, const RuntimePaths& paths,
                              std::map<std::string, std::string>& env) {
  if (!isExecutableRuntime(spec.runtime)) return;
  std::string dir = cSdkLibraryDir(paths);
  if (dir.empty()) return;
  auto own = spec.env.find("LD_LIBRARY_PATH");
  env["LD_LIBRARY_PATH"] =
      own != spec.env.end() && !own->second.empty() ? dir + ":" + own->second : dir;
}

}  // namespace evg::supervisor
