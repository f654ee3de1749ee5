#include "daemon/working_set.h"

#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace evg::daemon {

namespace {

struct Mapping {
  uintptr_t start = 0;
  uintptr_t end = 0;
  bool candidate = false;  // private, not writable, backed by a file
  size_t rss_kb = 0;
  size_t anon_kb = 0;  // private (copied-on-write) pages: never dropped
};

size_t fieldKb(const std::string& line, size_t name_len) {
  return std::strtoull(line.c_str() + name_len, nullptr, 10);
}

}  // namespace

Result<PageTrim> trimReadOnlyFilePages() {
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) return Status::io(std::string("cannot read /proc/self/smaps: ") + strerror(errno));
  std::vector<Mapping> maps;
  std::string line;
  while (std::getline(smaps, line)) {
    // A mapping header: "start-end perms offset dev inode [path]"; field lines are "Name: ...".
    const std::string first = line.substr(0, line.find(' '));
    if (first.find('-') != std::string::npos && first.find(':') == std::string::npos) {
      Mapping m;
      unsigned long start = 0, end = 0;
      char perms[5] = {};
      if (std::sscanf(line.c_str(), "%lx-%lx %4s", &start, &end, perms) == 3) {
        m.start = start;
        m.end = end;
        m.candidate = line.find('/') != std::string::npos && perms[0] == 'r' && perms[1] == '-' &&
                      perms[3] == 'p';
      }
      maps.push_back(m);
      continue;
    }
    if (maps.empty()) continue;
    if (line.rfind("Rss:", 0) == 0) maps.back().rss_kb = fieldKb(line, 4);
    if (line.rfind("Anonymous:", 0) == 0) maps.back().anon_kb = fieldKb(line, 10);
  }
  PageTrim t;
  // Free heap pages (start-up's temporaries: parsed JSON, certificate checks) go back too.
  t.heap_released = ::malloc_trim(0) != 0;
  for (const Mapping& m : maps) {
    // A read-only mapping holding a private page (RELRO: relocated, then made read-only) keeps
    // data that exists nowhere else: left alone.
    if (!m.candidate || m.anon_kb != 0 || m.end <= m.start) continue;
    void* p = reinterpret_cast<void*>(m.start);
    const size_t len = m.end - m.start;
    if (::madvise(p, len, MADV_DONTNEED) != 0) continue;
    ++t.mappings;
    t.resident_kb += m.rss_kb;
  }
  return t;
}

Result<WorkingSetSample> sampleWorkingSet() {
  WorkingSetSample s;
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    auto us = [](const timeval& tv) {
      return static_cast<uint64_t>(tv.tv_sec) * 1000000 + static_cast<uint64_t>(tv.tv_usec);
    };
    s.cpu_us = us(ru.ru_utime) + us(ru.ru_stime);
  }
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr)
    return Status::io(std::string("cannot read /proc/self/statm: ") + strerror(errno));
  unsigned long long size = 0, resident = 0, shared = 0;
  const int n = std::fscanf(f, "%llu %llu %llu", &size, &resident, &shared);
  std::fclose(f);
  if (n != 3) return Status::io("/proc/self/statm: unexpected format");
  const long page = ::sysconf(_SC_PAGESIZE);  // 4 KB on most devices, 16/64 KB on some arm64
  s.file_kb = shared * static_cast<unsigned long long>(page > 0 ? page : 4096) / 1024;
  return s;
}

IdleTrimmer::IdleTrimmer(boost::asio::io_context& io, std::chrono::milliseconds period,
                         OnTrim on_trim)
    : timer_(io), period_(period), policy_(period), on_trim_(std::move(on_trim)) {}

void IdleTrimmer::start() {
  if (auto s = sampleWorkingSet()) policy_.trimmed(*s);
  arm();
}

void IdleTrimmer::stop() {
  stopped_ = true;
  timer_.cancel();
}

void IdleTrimmer::arm() {
  if (stopped_) return;
  timer_.expires_after(period_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    auto before = sampleWorkingSet();
    if (before && policy_.shouldTrim(*before)) {
      auto t = trimReadOnlyFilePages();
      if (auto after = sampleWorkingSet()) policy_.trimmed(*after);
      if (on_trim_) on_trim_(t, *before);
    }
    arm();
  });
}

}  // namespace evg::daemon
