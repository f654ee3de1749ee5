#include "daemon/root_default.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace evg::daemon {

std::optional<std::string> readDefaultsVar(const std::string& file, const std::string& name) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::optional<std::string> found;
  std::string line;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    line = line.substr(b);
    if (line.rfind("export ", 0) == 0) line = line.substr(7);
    if (line.rfind(name + "=", 0) != 0) continue;
    std::string v = line.substr(name.size() + 1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.pop_back();
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
      v = v.substr(1, v.size() - 2);
    }
    found = v;  // the last assignment wins, as in a shell
  }
  return found;
}

Result<DefaultRoot> resolveDefaultRoot(const char* env_root, const std::string& defaults_file,
                                       const std::string& package_root) {
  if (env_root != nullptr && *env_root != '\0') return DefaultRoot{env_root, "EVERGREEN_ROOT"};
  if (auto v = readDefaultsVar(defaults_file, "EVERGREEN_ROOT"); v && !v->empty()) {
    return DefaultRoot{*v, defaults_file};
  }
  std::error_code ec;
  if (std::filesystem::is_directory(package_root, ec))
    return DefaultRoot{package_root, package_root};
  return Status::notFound("--root DIR is required (or set EVERGREEN_ROOT, or EVERGREEN_ROOT= in " +
                          defaults_file + ")");
}

Result<DefaultRoot> defaultRoot() {
  return resolveDefaultRoot(std::getenv("EVERGREEN_ROOT"), kDefaultsFile, kPackageRoot);
}

}  // namespace evg::daemon
