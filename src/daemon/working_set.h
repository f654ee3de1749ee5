#pragma once
// Trims the core's resident pages after start-up (issue 17, core idle memory;
// config evergreen.runtime.trimStartupPages, default on).
//
// Start-up runs code the running core rarely needs again (config parsing, certificate checks,
// OpenSSL's and SQLite's initialisation and their tables), and the kernel's fault-around maps up
// to 64 KB of neighbouring pages on every fault, so an idle core kept ~9 MB of program and
// library pages mapped. trimStartupPages() drops this process's mappings of every private,
// read-only, file-backed mapping that holds no private page (madvise(MADV_DONTNEED)): such a
// mapping is the file's content and nothing else, so nothing is lost; the pages stay in the page
// cache and one the core touches later faults back in from memory (with the kernel's usual
// fault-around, up to 64 KB of its neighbours). Writable mappings (.data, .bss, heap, stacks)
// and read-only ones holding copied-on-write pages (RELRO: relocated, then made read-only; smaps
// "Anonymous" > 0) are never touched. Cost: one minor fault per 64 KB the core touches again,
// once; the resident size grows back as far as the core's work reaches (docs/performance.md).
#include <cstddef>

#include "base/status.h"

namespace evg::daemon {

struct PageTrim {
  size_t mappings = 0;         // read-only file mappings trimmed
  size_t resident_kb = 0;      // their resident size before (from /proc/self/smaps)
  bool heap_released = false;  // malloc_trim(0) gave free heap pages back
};

// Reads /proc/self/maps; Status::io when it cannot.
Result<PageTrim> trimStartupPages();

}  // namespace evg::daemon
