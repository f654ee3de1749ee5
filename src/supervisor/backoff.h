#pragma once
// Restart policy for crashed workers: exponential backoff with a crash-loop flag.
// Pure value logic (no clock): the caller supplies how long the worker lived.

#include <algorithm>
#include <cstdint>

namespace evg::supervisor {

struct BackoffOptions {
  uint32_t initial_ms = 500;
  uint32_t max_ms = 60000;
  uint32_t crash_loop_threshold = 5;  // consecutive failures that count as a crash loop
  uint32_t stable_after_ms = 30000;   // a worker alive this long resets the failure count
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions o = {}) : o_(o) {}
  // A worker ended unexpectedly after living `lifetime_ms` (did_work: it completed invocations).
  // Returns the delay before the next start.
  uint32_t onFailure(uint64_t lifetime_ms, bool did_work) {
    if (lifetime_ms >= o_.stable_after_ms || did_work) failures_ = 0;
    ++failures_;
    uint64_t d = o_.initial_ms;
    for (uint32_t i = 1; i < failures_ && d < o_.max_ms; ++i) d *= 2;
    return static_cast<uint32_t>(std::min<uint64_t>(d, o_.max_ms));
  }
  void onSuccess() { failures_ = 0; }
  uint32_t failures() const { return failures_; }
  bool crashLoop() const { return failures_ >= o_.crash_loop_threshold; }

 private:
  BackoffOptions o_;
  uint32_t failures_ = 0;
};

}  // namespace evg::supervisor
