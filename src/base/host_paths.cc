#include "base/host_paths.h"

#include <climits>
#include <cstdlib>
#include <filesystem>

namespace evg {

namespace {

bool isUnder(const std::string& p, const std::string& dir) {
  return p == dir ||
         (p.size() > dir.size() && p.compare(0, dir.size(), dir) == 0 && p[dir.size()] == '/');
}

}  // namespace

std::string lexicallyNormalPath(const std::string& absolute) {
  std::string n = std::filesystem::path(absolute).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

std::optional<std::string> volumeSourceProblem(const std::string& normal) {
  if (normal.empty() || normal[0] != '/') return "expected an absolute path";
  if (normal == "/") return "the whole root file system cannot be a volume resource";
  if (normal == "/proc") {
    return "/proc itself cannot be a volume resource (a subfolder such as /proc/net can)";
  }
  if (isUnder(normal, "/sys")) return "paths under /sys cannot be volume resources (v1 rule)";
  if (isUnder(normal, "/dev")) {
    return "paths under /dev cannot be volume resources: use a LocalDevice resource";
  }
  for (const char* d : {"/var", "/var/run", "/var/lib", "/run"}) {
    if (normal == d) {
      return std::string(d) +
             " cannot be a volume resource (v1 rule): mount it at another folder and use that";
    }
  }
  return std::nullopt;
}

std::optional<std::string> deviceSourceProblem(const std::string& normal) {
  if (normal.size() <= 5 || normal.compare(0, 5, "/dev/") != 0) {
    return "expected a device under /dev/";
  }
  return std::nullopt;
}

std::optional<std::string> resolvedPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

}  // namespace evg
