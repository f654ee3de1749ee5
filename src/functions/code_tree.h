#pragma once
// Code trees of the function store: a function's code is unpacked from a zip (libarchive) or
// copied from a directory into a fresh directory of the store, under one set of rules:
//
//   entry types  regular files and directories; symlinks only when relative and resolving inside
//                the code directory (leading "../" only, never above the top; no "/", no "a/.."),
//                kept as links. Hard links, devices, FIFOs, sockets and other links are refused,
//                naming the entry. Nothing is ever dereferenced: a link to /etc/shadow is refused,
//                never copied.
//   paths        absolute names and ".." components are refused; "./" and "//" are normalised;
//                an entry below a symlink or a file, or the same name twice, is refused.
//   sizes        total unpacked bytes and the entry count are bounded (CodeLimits); a zip's
//                declared sizes are checked before anything is written (a zip bomb is refused in
//                milliseconds), and the bytes actually written are counted too (lying headers).
//   modes        directories 0755, files 0644, or 0755 when the source had any execute bit;
//                setuid/setgid/sticky and group/other write bits are never kept (umask-proof),
//                so any RunAs identity that can reach the store can read the code.
//
// On any error the destination directory is removed. All calls are blocking file I/O.

#include <cstdint>
#include <string>

#include "base/status.h"

namespace evg::functions {

struct CodeLimits {
  uint64_t max_unpacked_bytes = 256ull * 1024 * 1024;  // evergreen.functions.maxUnpackedBytes
  uint64_t max_entries = 65536;                        // evergreen.functions.maxEntries
};

// Unpacks the zip at `zip_path` into `dest` (which must not exist; created 0755).
Status unpackZip(const std::string& zip_path, const std::string& dest, const CodeLimits& limits);

// Copies the directory `src` (which may itself be named through a symlink) into `dest` (which
// must not exist), never following a symlink below `src`.
Status copyCodeTree(const std::string& src, const std::string& dest, const CodeLimits& limits);

// base64(SHA-256) over a stored tree, never following symlinks: entries sorted by path; for each
// "F<path>\0<x|->" + content, "L<path>\0" + target, or "D<path>\0". *bytes = regular file bytes.
Result<std::string> treeSha256(const std::string& dir, uint64_t* bytes);

// base64(SHA-256) of a file's bytes (a zip package: Lambda's CodeSha256). *bytes = file size.
Result<std::string> fileSha256(const std::string& path, uint64_t* bytes);

}  // namespace evg::functions
