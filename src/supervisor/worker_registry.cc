#include "supervisor/worker_registry.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace evg::supervisor {

namespace fs = std::filesystem;

namespace {

std::string readSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string processStartTime(pid_t pid) {
  std::string stat = readSmallFile("/proc/" + std::to_string(pid) + "/stat");
  // "pid (comm) state ppid ..." — comm may hold spaces and parentheses: split after the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream in(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && (in >> field); ++i) {
    if (i == 22) return field;
  }
  return "";
}

WorkerRegistry::WorkerRegistry(std::string dir, Log log)
    : dir_(std::move(dir)), log_(std::move(log)) {
  boot_id_ = trim(readSmallFile("/proc/sys/kernel/random/boot_id"));
}

size_t WorkerRegistry::sweep() {
  if (dir_.empty()) return 0;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    log_.warn("worker registry " + dir_ + ": " + ec.message());
    return 0;
  }
  ::chmod(dir_.c_str(), 0700);
  size_t killed = 0;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    char* end = nullptr;
    long pid = std::strtol(name.c_str(), &end, 10);
    std::istringstream rec(readSmallFile(e.path().string()));
    std::string boot, start;
    rec >> boot >> start;
    fs::remove(e.path(), ec);
    if (end == nullptr || *end != '\0' || pid <= 1 || boot != boot_id_ || start.empty()) continue;
    if (processStartTime(static_cast<pid_t>(pid)) != start) continue;  // gone or recycled
    ::kill(static_cast<pid_t>(-pid), SIGKILL);
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    ++killed;
    log_.warn("killed leftover worker " + name + " of a previous run of the core");
  }
  return killed;
}

void WorkerRegistry::add(pid_t pid) {
  if (dir_.empty()) return;
  std::string start = processStartTime(pid);
  if (start.empty()) return;
  std::string path = dir_ + "/" + std::to_string(pid);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  std::string rec = boot_id_ + " " + start + "\n";
  ssize_t n = ::write(fd, rec.data(), rec.size());
  (void)n;
  ::close(fd);
}

void WorkerRegistry::remove(pid_t pid) {
  if (dir_.empty()) return;
  ::unlink((dir_ + "/" + std::to_string(pid)).c_str());
}

}  // namespace evg::supervisor
