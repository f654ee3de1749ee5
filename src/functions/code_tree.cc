#include "functions/code_tree.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "base/base64.h"

namespace evg::functions {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxDepth = 256;  // directory nesting of a copied tree (keeps recursion bounded)
constexpr size_t kIoChunk = 64 * 1024;

// A name as it appears in error messages: JSON-quoted, so control characters and invalid UTF-8
// cannot garble the message.
std::string showName(std::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string errnoText() { return std::strerror(errno); }

std::vector<std::string> splitPath(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    out.emplace_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Reads up to n bytes into buf; 0 = end; negative = error (message set by the reader).
using ChunkReader = std::function<ssize_t(char* buf, size_t n)>;

// Applies the entry rules and writes (or, in a dry run, only checks) one tree.
class TreeWriter {
 public:
  enum class Kind { kImplicitDir, kDir, kFile, kLink };

  TreeWriter(std::string dest, const CodeLimits& limits, std::string source, bool dry_run)
      : dest_(std::move(dest)), limits_(limits), source_(std::move(source)), dry_run_(dry_run) {}

  Status begin() {
    if (dry_run_) return Status::ok();
    if (::mkdir(dest_.c_str(), 0700) != 0) {
      return Status::io("cannot create " + dest_ + ": " + errnoText());
    }
    if (::chmod(dest_.c_str(), 0755) != 0) {
      return Status::io("chmod " + dest_ + ": " + errnoText());
    }
    return Status::ok();
  }

  // Validates one entry's name (and a link's target) and records it. Creates directories (the
  // entry itself for kDir, missing parents as implicit directories). Returns the normalised
  // relative path; empty for the top directory itself ("./"), which callers skip.
  Result<std::string> admit(std::string_view raw, Kind kind, std::string_view target = {}) {
    EVG_RETURN_IF_ERROR(countEntry(raw));
    if (raw.empty()) return refuse(raw, "has an empty name");
    if (raw.front() == '/') return refuse(raw, "has an absolute path");
    std::vector<std::string> parts;
    for (auto& c : splitPath(raw)) {
      if (c.empty() || c == ".") continue;
      if (c == "..") return refuse(raw, "has a \"..\" path component");
      parts.push_back(std::move(c));
    }
    if (parts.empty()) {
      if (kind == Kind::kDir) return std::string();
      return refuse(raw, "names the top directory but is not a directory");
    }
    std::string rel;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      rel += (i ? "/" : "") + parts[i];
      auto it = seen_.find(rel);
      if (it == seen_.end()) {
        EVG_RETURN_IF_ERROR(countEntry(raw));
        EVG_RETURN_IF_ERROR(makeDir(rel));
        seen_.emplace(rel, Kind::kImplicitDir);
      } else if (it->second == Kind::kFile || it->second == Kind::kLink) {
        return refuse(raw, std::string("lies below ") + showName(rel) + ", which is " +
                               (it->second == Kind::kLink ? "a symlink" : "a file"));
      }
    }
    rel += (parts.size() > 1 ? "/" : "") + parts.back();
    if (auto it = seen_.find(rel); it != seen_.end()) {
      bool was_dir = it->second == Kind::kDir || it->second == Kind::kImplicitDir;
      if (kind == Kind::kDir && it->second == Kind::kImplicitDir) {
        it->second = Kind::kDir;
        return rel;
      }
      return refuse(
          raw, was_dir && kind != Kind::kDir ? "has the name of a directory" : "appears twice");
    }
    if (kind == Kind::kLink) EVG_RETURN_IF_ERROR(checkLinkTarget(raw, parts.size() - 1, target));
    if (kind == Kind::kDir) EVG_RETURN_IF_ERROR(makeDir(rel));
    seen_.emplace(rel, kind);
    return rel;
  }

  // Dry run: counts a declared size.
  Status account(std::string_view rel, uint64_t n) {
    bytes_ += n;
    if (bytes_ > limits_.max_unpacked_bytes) return sizeExceeded(rel);
    return Status::ok();
  }

  Status writeFile(const std::string& rel, bool executable, const ChunkReader& read) {
    std::string path = dest_ + "/" + rel;
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.get() < 0) return Status::io("cannot create " + path + ": " + errnoText());
    std::vector<char> buf(kIoChunk);
    for (;;) {
      ssize_t n = read(buf.data(), buf.size());
      if (n < 0)
        return Status::io(source_ + ": reading entry " + showName(rel) + ": " + read_error_);
      if (n == 0) break;
      EVG_RETURN_IF_ERROR(account(rel, static_cast<uint64_t>(n)));
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(fd.get(), buf.data() + off, static_cast<size_t>(n - off));
        if (w < 0) {
          if (errno == EINTR) continue;
          return Status::io("writing " + path + ": " + errnoText());
        }
        off += w;
      }
    }
    if (::fchmod(fd.get(), executable ? 0755 : 0644) != 0) {
      return Status::io("chmod " + path + ": " + errnoText());
    }
    if (::close(fd.release()) != 0) return Status::io("writing " + path + ": " + errnoText());
    return Status::ok();
  }

  Status writeLink(const std::string& rel, const std::string& target) {
    std::string path = dest_ + "/" + rel;
    if (::symlink(target.c_str(), path.c_str()) != 0) {
      return Status::io("cannot create symlink " + path + ": " + errnoText());
    }
    return Status::ok();
  }

  Status refuse(std::string_view raw, const std::string& why) const {
    return Status::invalid(source_ + ": entry " + showName(raw) + " " + why);
  }

  void setReadError(std::string e) { read_error_ = std::move(e); }
  const std::string& source() const { return source_; }
  bool dryRun() const { return dry_run_; }

 private:
  Status countEntry(std::string_view raw) {
    if (++entries_ > limits_.max_entries) {
      return Status::tooLarge(source_ + ": more than " + std::to_string(limits_.max_entries) +
                              " entries (limit evergreen.functions.maxEntries), at entry " +
                              showName(raw));
    }
    return Status::ok();
  }

  Status sizeExceeded(std::string_view rel) const {
    return Status::tooLarge(source_ + ": unpacked size exceeds the limit of " +
                            std::to_string(limits_.max_unpacked_bytes) +
                            " bytes (evergreen.functions.maxUnpackedBytes), at entry " +
                            showName(rel));
  }

  Status makeDir(const std::string& rel) {
    if (dry_run_) return Status::ok();
    std::string path = dest_ + "/" + rel;
    if (::mkdir(path.c_str(), 0700) != 0) {
      return Status::io("cannot create " + path + ": " + errnoText());
    }
    if (::chmod(path.c_str(), 0755) != 0) return Status::io("chmod " + path + ": " + errnoText());
    return Status::ok();
  }

  // A link at depth `depth` (number of parent directories below the top) may only point at a
  // relative path whose ".." components come first and do not climb above the top.
  Status checkLinkTarget(std::string_view raw, size_t depth, std::string_view target) const {
    std::string t = showName(target);
    if (target.empty()) return refuse(raw, "is a symlink with an empty target");
    if (target.size() >= PATH_MAX) return refuse(raw, "is a symlink with an over-long target");
    if (target.front() == '/') {
      return refuse(raw, "is a symlink to the absolute path " + t +
                             " (only relative links inside the function are kept)");
    }
    size_t ups = 0;
    bool named = false;
    for (auto& c : splitPath(target)) {
      if (c.empty() || c == ".") continue;
      if (c == "..") {
        if (named) {
          return refuse(raw, "is a symlink to " + t +
                                 ", which has \"..\" after a name (only leading \"../\" allowed)");
        }
        if (++ups > depth) {
          return refuse(raw, "is a symlink to " + t + ", which points outside the function");
        }
      } else {
        named = true;
      }
    }
    return Status::ok();
  }

  std::string dest_;
  CodeLimits limits_;
  std::string source_;
  bool dry_run_;
  std::map<std::string, Kind> seen_;
  uint64_t entries_ = 0;
  uint64_t bytes_ = 0;
  std::string read_error_;
};

const char* typeName(mode_t type) {
  switch (type) {
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFIFO:
      return "a FIFO";
    case S_IFSOCK:
      return "a socket";
    default:
      return "of an unsupported type";
  }
}

constexpr const char* kAllowed =
    " (only regular files, directories and symlinks inside the function are allowed)";

// ---- zip (libarchive) ----

// libarchive is loaded (dlopen, RTLD_LOCAL) only while a zip is read and unloaded afterwards: it
// and what it pulls in (libxml2, ICU, nettle, liblzma, ...) cost ~1.3 MB PSS in every idle core
// otherwise, and zips are read only on deployment. Debian package: libarchive13.
constexpr const char* kLibArchive = "libarchive.so.13";

class LibArchive {
 public:
// clang-format off
#define EVG_LA_FUNCTIONS(X)                                                                  \
  X(read_new) X(read_free) X(read_support_format_zip) X(read_open_filename) X(error_string) \
  X(entry_pathname) X(entry_pathname_utf8) X(read_next_header) X(entry_hardlink)           \
  X(entry_filetype) X(entry_perm) X(entry_size_is_set) X(entry_size) X(read_data)          \
  X(entry_symlink) X(entry_symlink_utf8)
  // clang-format on
#define EVG_LA_MEMBER(name) decltype(&::archive_##name) name = nullptr;
  EVG_LA_FUNCTIONS(EVG_LA_MEMBER)
#undef EVG_LA_MEMBER

  static Result<std::unique_ptr<LibArchive>> load() {
    auto lib = std::unique_ptr<LibArchive>(new LibArchive());
    lib->handle_ = ::dlopen(kLibArchive, RTLD_NOW | RTLD_LOCAL);
    if (lib->handle_ == nullptr) {
      const char* e = ::dlerror();
      return Status::unsupported(std::string("cannot read zip packages: ") + kLibArchive +
                                 " could not be loaded (" + (e ? e : "?") +
                                 "; apt-get install libarchive13)");
    }
    const char* missing = nullptr;
#define EVG_LA_RESOLVE(name)                                                                  \
  lib->name = reinterpret_cast<decltype(lib->name)>(::dlsym(lib->handle_, "archive_" #name)); \
  if (lib->name == nullptr && missing == nullptr) missing = "archive_" #name;
    EVG_LA_FUNCTIONS(EVG_LA_RESOLVE)
#undef EVG_LA_RESOLVE
    if (missing != nullptr) {
      return Status::unsupported(std::string(kLibArchive) + " has no " + missing);
    }
    return lib;
  }
#undef EVG_LA_FUNCTIONS
  ~LibArchive() {
    if (handle_ != nullptr) ::dlclose(handle_);
  }
  LibArchive(const LibArchive&) = delete;
  LibArchive& operator=(const LibArchive&) = delete;

 private:
  LibArchive() = default;
  void* handle_ = nullptr;
};

struct ArchiveFree {
  decltype(&::archive_read_free) free_fn;
  void operator()(archive* a) const { free_fn(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

Result<ArchivePtr> openZip(const LibArchive& L, const std::string& zip_path) {
  ArchivePtr a(L.read_new(), ArchiveFree{L.read_free});
  if (!a) return Status::internal("archive_read_new failed");
  L.read_support_format_zip(a.get());
  if (L.read_open_filename(a.get(), zip_path.c_str(), kIoChunk) != ARCHIVE_OK) {
    const char* e = L.error_string(a.get());
    return Status::invalid("zip " + zip_path +
                           " is not a readable zip archive: " + (e ? e : "unknown error"));
  }
  return a;
}

const char* entryName(const LibArchive& L, archive_entry* e) {
  const char* n = L.entry_pathname(e);
  return n != nullptr ? n : L.entry_pathname_utf8(e);
}

// One pass over the archive. Dry run: checks every entry and the declared sizes, reads no data.
Status walkZip(const LibArchive& L, archive* a, TreeWriter& w) {
  archive_entry* e = nullptr;
  for (;;) {
    int r = L.read_next_header(a, &e);
    if (r == ARCHIVE_EOF) return Status::ok();
    if (r < ARCHIVE_WARN) {
      const char* msg = L.error_string(a);
      return Status::invalid(w.source() + ": " + (msg ? msg : "unreadable entry header"));
    }
    const char* name = entryName(L, e);
    if (name == nullptr) {
      return Status::invalid(w.source() + ": an entry has a name that cannot be decoded");
    }
    if (L.entry_hardlink(e) != nullptr) {
      return w.refuse(name, std::string("is a hard link") + kAllowed);
    }
    auto type = static_cast<mode_t>(L.entry_filetype(e));
    if (type == AE_IFDIR) {
      EVG_RETURN_IF_ERROR(w.admit(name, TreeWriter::Kind::kDir).status());
    } else if (type == AE_IFREG) {
      auto rel = w.admit(name, TreeWriter::Kind::kFile);
      if (!rel) return rel.status();
      bool exec = (L.entry_perm(e) & 0111) != 0;
      if (w.dryRun()) {
        if (L.entry_size_is_set(e)) {
          EVG_RETURN_IF_ERROR(w.account(*rel, static_cast<uint64_t>(L.entry_size(e))));
        }
        continue;  // the next header skips the data
      }
      EVG_RETURN_IF_ERROR(w.writeFile(*rel, exec, [&](char* buf, size_t n) -> ssize_t {
        la_ssize_t got = L.read_data(a, buf, n);
        if (got < 0) {
          const char* msg = L.error_string(a);
          w.setReadError(msg ? msg : "read error");
          return -1;
        }
        return static_cast<ssize_t>(got);
      }));
    } else if (type == AE_IFLNK) {
      const char* target = L.entry_symlink(e);
      if (target == nullptr) target = L.entry_symlink_utf8(e);
      if (target == nullptr) return w.refuse(name, "is a symlink whose target cannot be decoded");
      auto rel = w.admit(name, TreeWriter::Kind::kLink, target);
      if (!rel) return rel.status();
      if (!w.dryRun()) EVG_RETURN_IF_ERROR(w.writeLink(*rel, target));
    } else {
      return w.refuse(name, std::string("is ") + typeName(type) + kAllowed);
    }
  }
}

// ---- directory copy ----

Status copyDir(int dirfd, const std::string& prefix, TreeWriter& w, int depth) {
  if (depth > kMaxDepth) {
    return w.refuse(prefix, "is nested more than " + std::to_string(kMaxDepth) + " levels deep");
  }
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return Status::io("dup: " + errnoText());
  std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(dup), ::closedir);
  if (!d) {
    ::close(dup);
    return Status::io(w.source() + ": cannot list " + showName(prefix) + ": " + errnoText());
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* de = ::readdir(d.get())) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  if (errno != 0)
    return Status::io(w.source() + ": listing " + showName(prefix) + ": " + errnoText());
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string raw = prefix + n;
    struct stat st {};
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Status::io(w.source() + ": " + showName(raw) + ": " + errnoText());
    }
    if (S_ISDIR(st.st_mode)) {
      EVG_RETURN_IF_ERROR(w.admit(raw, TreeWriter::Kind::kDir).status());
      Fd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub.get() < 0) return Status::io(w.source() + ": " + showName(raw) + ": " + errnoText());
      EVG_RETURN_IF_ERROR(copyDir(sub.get(), raw + "/", w, depth + 1));
    } else if (S_ISREG(st.st_mode)) {
      auto rel = w.admit(raw, TreeWriter::Kind::kFile);
      if (!rel) return rel.status();
      // O_NOFOLLOW + fstat: a file swapped for a link or a FIFO after fstatat is refused.
      Fd f(::openat(dirfd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      struct stat fst {};
      if (f.get() < 0 || ::fstat(f.get(), &fst) != 0) {
        return Status::io(w.source() + ": cannot read " + showName(raw) + ": " + errnoText());
      }
      if (!S_ISREG(fst.st_mode)) return w.refuse(raw, "changed type while being copied");
      EVG_RETURN_IF_ERROR(
          w.writeFile(*rel, (fst.st_mode & 0111) != 0, [&](char* buf, size_t len) -> ssize_t {
            for (;;) {
              ssize_t got = ::read(f.get(), buf, len);
              if (got < 0 && errno == EINTR) continue;
              if (got < 0) w.setReadError(errnoText());
              return got;
            }
          }));
    } else if (S_ISLNK(st.st_mode)) {
      std::vector<char> buf(PATH_MAX);
      ssize_t len = ::readlinkat(dirfd, n.c_str(), buf.data(), buf.size());
      if (len < 0)
        return Status::io(w.source() + ": readlink " + showName(raw) + ": " + errnoText());
      if (static_cast<size_t>(len) >= buf.size()) {
        return w.refuse(raw, "is a symlink with an over-long target");
      }
      std::string target(buf.data(), static_cast<size_t>(len));
      auto rel = w.admit(raw, TreeWriter::Kind::kLink, target);
      if (!rel) return rel.status();
      EVG_RETURN_IF_ERROR(w.writeLink(*rel, target));
    } else {
      return w.refuse(raw, std::string("is ") + typeName(st.st_mode & S_IFMT) + kAllowed);
    }
  }
  return Status::ok();
}

// ---- digests ----

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void update(const void* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  void update(std::string_view s) { update(s.data(), s.size()); }
  // Feeds a file's bytes (a final symlink is followed only when `follow`).
  Status updateFile(const std::string& path, uint64_t* bytes, bool follow = false) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)));
    if (fd.get() < 0) return Status::io("cannot read " + path + ": " + errnoText());
    std::vector<char> buf(kIoChunk);
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::io("reading " + path + ": " + errnoText());
      if (n == 0) return Status::ok();
      update(buf.data(), static_cast<size_t>(n));
      *bytes += static_cast<uint64_t>(n);
    }
  }
  std::string finishBase64() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    return base64Encode(std::string_view(reinterpret_cast<const char*>(md), len));
  }

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace

Status unpackZip(const std::string& zip_path, const std::string& dest, const CodeLimits& limits) {
  std::error_code ec;
  if (!fs::is_regular_file(zip_path, ec))
    return Status::notFound("zip file not found: " + zip_path);
  std::string source = "zip " + zip_path;
  auto lib = LibArchive::load();  // unloaded when this returns
  if (!lib) return lib.status();
  const LibArchive& L = **lib;
  {
    // Pass 1: every entry's type, name, link target and declared size, before writing anything.
    auto a = openZip(L, zip_path);
    if (!a) return a.status();
    TreeWriter check(dest, limits, source, /*dry_run=*/true);
    EVG_RETURN_IF_ERROR(walkZip(L, a->get(), check));
  }
  // Pass 2: the same checks again (the file may have changed) while writing, counting the bytes
  // actually inflated (headers may lie).
  auto a = openZip(L, zip_path);
  if (!a) return a.status();
  TreeWriter w(dest, limits, source, /*dry_run=*/false);
  EVG_RETURN_IF_ERROR(w.begin());
  Status st = walkZip(L, a->get(), w);
  if (!st) fs::remove_all(dest, ec);
  return st;
}

Status copyCodeTree(const std::string& src, const std::string& dest, const CodeLimits& limits) {
  Fd root(::open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Status::notFound("code directory not found: " + src);
    }
    return Status::io("cannot open code directory " + src + ": " + errnoText());
  }
  std::error_code ec;
  fs::path csrc = fs::weakly_canonical(src, ec);
  fs::path cdest = fs::weakly_canonical(dest, ec);
  if (!csrc.has_filename()) csrc = csrc.parent_path();
  auto [s_end, d_it] = std::mismatch(csrc.begin(), csrc.end(), cdest.begin(), cdest.end());
  if (s_end == csrc.end()) {
    return Status::invalid("code directory " + src + " contains the store destination " + dest);
  }
  TreeWriter w(dest, limits, "code directory " + src, /*dry_run=*/false);
  EVG_RETURN_IF_ERROR(w.begin());
  Status st = copyDir(root.get(), "", w, 0);
  if (!st) fs::remove_all(dest, ec);
  return st;
}

Result<std::string> treeSha256(const std::string& dir, uint64_t* bytes) {
  struct Item {
    std::string rel;
    fs::file_type type;
    bool exec;
  };
  std::vector<Item> items;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    auto st = it->symlink_status(ec);
    if (ec) break;
    bool exec = (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
    items.push_back({it->path().lexically_relative(dir).string(), st.type(), exec});
  }
  if (ec) return Status::io("hashing " + dir + ": " + ec.message());
  std::sort(items.begin(), items.end(), [](auto& a, auto& b) { return a.rel < b.rel; });
  Sha256 sha;
  uint64_t total = 0;
  for (const auto& i : items) {
    std::string path = dir + "/" + i.rel;
    if (i.type == fs::file_type::regular) {
      sha.update("F" + i.rel + '\0' + (i.exec ? "x" : "-"));
      EVG_RETURN_IF_ERROR(sha.updateFile(path, &total));
    } else if (i.type == fs::file_type::symlink) {
      auto target = fs::read_symlink(path, ec);
      if (ec) return Status::io("readlink " + path + ": " + ec.message());
      sha.update("L" + i.rel + '\0' + target.string());
    } else if (i.type == fs::file_type::directory) {
      sha.update("D" + i.rel + '\0');
    } else {
      return Status::invalid("hashing " + dir + ": " + showName(i.rel) +
                             " is not a file, "
                             "directory or symlink");
    }
    sha.update("\0", 1);
  }
  *bytes = total;
  return sha.finishBase64();
}

Result<std::string> fileSha256(const std::string& path, uint64_t* bytes) {
  Sha256 sha;
  uint64_t total = 0;
  EVG_RETURN_IF_ERROR(sha.updateFile(path, &total, /*follow=*/true));
  *bytes = total;
  return sha.finishBase64();
}

}  // namespace evg::functions
