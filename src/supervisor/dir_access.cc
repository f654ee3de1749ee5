#include "supervisor/dir_access.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

namespace evg::supervisor {

namespace fs = std::filesystem;

namespace {

bool allowed(const struct stat& st, uint32_t uid, uint32_t gid, mode_t usr, mode_t grp,
             mode_t oth) {
  if (uid == 0) return true;
  if (st.st_uid == uid) return (st.st_mode & usr) == usr;
  if (st.st_gid == gid) return (st.st_mode & grp) == grp;
  return (st.st_mode & oth) == oth;
}

bool canSearch(const std::string& dir, uint32_t uid, uint32_t gid) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  return allowed(st, uid, gid, S_IXUSR, S_IXGRP, S_IXOTH);
}

// Replaces `from` where it is a whole path prefix: preceded by the start, ':' or '=', followed
// by the end, '/' or ':'.
std::string replacePrefix(const std::string& s, const std::string& from, const std::string& to) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t p = s.find(from, i);
    if (p == std::string::npos) break;
    size_t e = p + from.size();
    bool start_ok = p == 0 || s[p - 1] == ':' || s[p - 1] == '=';
    bool end_ok = e == s.size() || s[e] == '/' || s[e] == ':';
    out += s.substr(i, p - i);
    out += start_ok && end_ok ? to : from;
    i = e;
  }
  out += s.substr(i);
  return out;
}

void addCandidates(const std::string& value, std::vector<std::string>* out) {
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(':', start);
    if (end == std::string::npos) end = value.size();
    std::string part = value.substr(start, end - start);
    start = end + 1;
    if (part.rfind("--", 0) == 0) {
      size_t eq = part.find('=');
      if (eq == std::string::npos) continue;
      part = part.substr(eq + 1);
    }
    if (part.empty() || part[0] != '/') continue;
    while (part.size() > 1 && (part.back() == '*' || part.back() == '/')) part.pop_back();
    std::error_code ec;
    fs::path p(part);
    if (!fs::is_directory(p, ec)) p = p.parent_path();
    if (!fs::is_directory(p, ec)) continue;
    out->push_back(p.lexically_normal().string());
  }
}

}  // namespace

bool canSearchPath(const std::string& dir, uint32_t uid, uint32_t gid, std::string* blocking) {
  fs::path p = fs::path(dir).lexically_normal();
  fs::path cur = "/";
  if (!canSearch(cur.string(), uid, gid)) {
    if (blocking != nullptr) *blocking = "/";
    return false;
  }
  for (const auto& c : p.relative_path()) {
    if (c.empty()) continue;
    cur /= c;
    if (!canSearch(cur.string(), uid, gid)) {
      if (blocking != nullptr) *blocking = cur.string();
      return false;
    }
  }
  return true;
}

bool canReadDir(const std::string& dir, uint32_t uid, uint32_t gid) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  return allowed(st, uid, gid, S_IRUSR | S_IXUSR, S_IRGRP | S_IXGRP, S_IROTH | S_IXOTH);
}

std::vector<std::string> planDirFds(std::vector<std::string>* argv, std::vector<std::string>* env,
                                    uint32_t uid, uint32_t gid) {
  std::vector<std::string> cands;
  for (const auto& a : *argv) addCandidates(a, &cands);
  for (const auto& e : *env) {
    size_t eq = e.find('=');
    if (eq != std::string::npos) addCandidates(e.substr(eq + 1), &cands);
  }
  std::sort(cands.begin(), cands.end(),
            [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  std::vector<std::string> dirs;
  for (const auto& d : cands) {
    bool covered = false;
    for (const auto& k : dirs) covered |= d == k || d.rfind(k + "/", 0) == 0;
    if (covered || dirs.size() >= kMaxDirFds) continue;
    std::string blocking;
    if (canSearchPath(d, uid, gid, &blocking)) continue;
    if (blocking == d || !canReadDir(d, uid, gid)) continue;  // a descriptor would not help
    dirs.push_back(d);
  }
  if (dirs.empty()) return dirs;
  auto rewrite = [&](std::string s) {
    for (size_t i = 0; i < dirs.size(); ++i) {
      s = replacePrefix(s, dirs[i], "/proc/self/fd/" + std::to_string(kFirstDirFd + i));
    }
    return s;
  };
  for (auto& a : *argv) a = rewrite(a);
  bool node_options = false;
  for (auto& e : *env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos) continue;
    e = e.substr(0, eq + 1) + rewrite(e.substr(eq + 1));
    if (e.rfind("NODE_OPTIONS=", 0) == 0) {
      e += (e.size() > 13 ? " " : "") + std::string("--preserve-symlinks-main");
      node_options = true;
    }
  }
  if (!node_options) env->push_back("NODE_OPTIONS=--preserve-symlinks-main");
  env->push_back("NODE_PRESERVE_SYMLINKS=1");
  return dirs;
}

}  // namespace evg::supervisor
