#pragma once
// Trims the core's resident pages after start-up (issue 17, core idle memory;
// config evergreen.runtime.trimStartupPages, default on).
//
// Start-up runs code the running core rarely needs again (config parsing, certificate checks,
// OpenSSL's and SQLite's initialisation and their tables), and the kernel's fault-around maps up
// to 64 KB of neighbouring pages on every fault, so an idle core kept ~9 MB of program and
// library pages mapped. trimReadOnlyFilePages() drops this process's mappings of every private,
// read-only, file-backed mapping that holds no private page (madvise(MADV_DONTNEED)): such a
// mapping is the file's content and nothing else, so nothing is lost; the pages stay in the page
// cache and one the core touches later faults back in from memory (with the kernel's usual
// fault-around, up to 64 KB of its neighbours). Writable mappings (.data, .bss, heap, stacks)
// and read-only ones holding copied-on-write pages (RELRO: relocated, then made read-only; smaps
// "Anonymous" > 0) are never touched. Cost: one minor fault per 64 KB the core touches again,
// once; the resident size grows back as far as the core's work reaches (docs/performance.md).
//
// Later work (a status query, a deployment, a burst of traffic) brings pages back that an idle
// core then keeps mapped for good. IdleTrimmer (config evergreen.runtime.trimIdlePagesSeconds,
// default 30) samples the process every period: when the core used under 1 % of a CPU over the
// period and its file-backed resident pages grew by 256 KB or more since the last trim, it trims
// again. The decision is IdleTrimPolicy's (sans-I/O, fed samples).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "base/status.h"

namespace evg::daemon {

struct PageTrim {
  size_t mappings = 0;         // read-only file mappings trimmed
  size_t resident_kb = 0;      // their resident size before (from /proc/self/smaps)
  bool heap_released = false;  // malloc_trim(0) gave free heap pages back
};

// The trim itself, after start-up and for IdleTrimmer. Reads /proc/self/smaps; Status::io when
// it cannot.
Result<PageTrim> trimReadOnlyFilePages();

struct WorkingSetSample {
  uint64_t cpu_us = 0;   // user + system CPU time of the whole process so far
  uint64_t file_kb = 0;  // resident file-backed (and shared) KB: /proc/self/statm "shared" pages
};

// getrusage(RUSAGE_SELF) and /proc/self/statm; Status::io when statm cannot be read.
Result<WorkingSetSample> sampleWorkingSet();

class IdleTrimPolicy {
 public:
  // Idle: under 1 % of one CPU over a period. Grown: this many KB above the last trim's.
  static constexpr uint64_t kIdleCpuPermille = 10;
  static constexpr uint64_t kRegrowKb = 256;

  explicit IdleTrimPolicy(std::chrono::milliseconds period) : period_(period) {}
  // After a trim: `after` is sampled once it is done (the baseline for "grown").
  void trimmed(const WorkingSetSample& after) {
    base_kb_ = after.file_kb;
    last_ = after;
  }
  // One sample per period: true when the core should trim now.
  bool shouldTrim(const WorkingSetSample& now) {
    const uint64_t used_us = now.cpu_us >= last_.cpu_us ? now.cpu_us - last_.cpu_us : 0;
    last_ = now;
    const auto period_us = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(period_).count());
    const bool idle = used_us * 1000 < period_us * kIdleCpuPermille;
    return idle && now.file_kb >= base_kb_ + kRegrowKb;
  }

 private:
  std::chrono::milliseconds period_;
  uint64_t base_kb_ = 0;
  WorkingSetSample last_;
};

// Samples every `period` on the loop and trims when IdleTrimPolicy says so; `on_trim` hears of
// each trim (for the log). Stops with stop() or its destruction.
class IdleTrimmer {
 public:
  using OnTrim = std::function<void(const Result<PageTrim>&, const WorkingSetSample& before)>;
  IdleTrimmer(boost::asio::io_context& io, std::chrono::milliseconds period, OnTrim on_trim);
  // Baseline: the pages mapped right after the start-up trim.
  void start();
  void stop();

 private:
  void arm();
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds period_;
  IdleTrimPolicy policy_;
  OnTrim on_trim_;
  bool stopped_ = false;
};

}  // namespace evg::daemon
