#include "base/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace evg {

std::string_view logLevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace:
      return "TRACE";
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kFatal:
      return "FATAL";
  }
  return "INFO";
}

Result<LogLevel> parseLogLevel(std::string_view s) {
  std::string u;
  for (char c : s) u.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
  if (u == "TRACE") return LogLevel::kTrace;
  if (u == "DEBUG") return LogLevel::kDebug;
  if (u == "INFO") return LogLevel::kInfo;
  if (u == "WARN" || u == "WARNING") return LogLevel::kWarn;
  if (u == "ERROR") return LogLevel::kError;
  if (u == "FATAL") return LogLevel::kFatal;
  return Status::invalid("expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, got \"" +
                         std::string(s) + "\"");
}

std::string isoTimestampNow() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm lt{};
  localtime_r(&tv.tv_sec, &lt);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &lt);
  long off = lt.tm_gmtoff;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  snprintf(buf + n, sizeof buf - n, ".%03ld%c%02ld:%02ld", static_cast<long>(tv.tv_usec / 1000),
           sign, off / 3600, (off % 3600) / 60);
  return buf;
}

namespace {
// Log files may carry payloads and resource names: readable by the owner and its group only.
constexpr mode_t kLogFileMode = 0640;
}  // namespace

RotatingFile::RotatingFile(std::string path, size_t max_bytes, int keep)
    : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep < 0 ? 0 : keep) {}

RotatingFile::~RotatingFile() {
  if (f_ != nullptr) fclose(f_);
}

Status RotatingFile::openIfNeeded() {
  if (f_ != nullptr) return Status::ok();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, kLogFileMode);
  if (fd < 0) return Status::io("open " + path_ + ": " + strerror(errno));
  struct stat st0 {};
  // A file left by an older version (0644) is narrowed; never widened.
  if (fstat(fd, &st0) == 0 && (st0.st_mode & 07777 & ~kLogFileMode) != 0) {
    (void)fchmod(fd, st0.st_mode & 07777 & kLogFileMode);
  }
  f_ = fdopen(fd, "a");
  if (f_ == nullptr) {
    int e = errno;
    ::close(fd);
    return Status::io("open " + path_ + ": " + strerror(e));
  }
  // Line buffered: `tail -f` sees every record as it is written (logs are not on a hot path).
  setvbuf(f_, nullptr, _IOLBF, 0);
  struct stat st {};
  size_ = fstat(fileno(f_), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  return Status::ok();
}

void RotatingFile::rotate() {
  if (f_ != nullptr) {
    fclose(f_);
    f_ = nullptr;
  }
  if (keep_ == 0) {
    ::unlink(path_.c_str());
  } else {
    for (int i = keep_; i >= 1; --i) {
      std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
      std::string to = path_ + "." + std::to_string(i);
      ::rename(from.c_str(), to.c_str());
    }
  }
  size_ = 0;
}

Status RotatingFile::append(std::string_view data) {
  EVG_RETURN_IF_ERROR(openIfNeeded());
  if (size_ > 0 && size_ + data.size() > max_bytes_) {
    rotate();
    EVG_RETURN_IF_ERROR(openIfNeeded());
  }
  // A single record larger than the file bound is truncated so the bound holds.
  if (data.size() > max_bytes_) data = data.substr(0, max_bytes_);
  if (fwrite(data.data(), 1, data.size(), f_) != data.size()) {
    return Status::io("write " + path_ + ": " + strerror(errno));
  }
  size_ += data.size();
  return Status::ok();
}

void RotatingFile::flush() {
  if (f_ != nullptr) fflush(f_);
}

Logger::Logger(LogOptions opts) : opts_(std::move(opts)) {}
Logger::~Logger() { flush(); }

void Logger::log(LogLevel l, std::string_view component, std::string_view msg) {
  if (!enabled(l)) return;
  std::string line;
  line.reserve(msg.size() + component.size() + 48);
  line += '[';
  line += isoTimestampNow();
  line += "][";
  line += logLevelName(l);
  line += "]-";
  line += component;
  line += ": ";
  line += msg;
  line += '\n';
  std::lock_guard<std::mutex> lock(mu_);
  if (opts_.to_stderr) fwrite(line.data(), 1, line.size(), stderr);
  if (!opts_.dir.empty()) {
    auto it = files_.find(component);
    if (it == files_.end()) {
      auto f = std::make_unique<RotatingFile>(opts_.dir + "/" + std::string(component) + ".log",
                                              opts_.max_file_bytes, opts_.keep_files);
      it = files_.emplace(std::string(component), std::move(f)).first;
    }
    (void)it->second->append(line);
    if (l >= LogLevel::kWarn) it->second->flush();
  }
}

void Logger::flush() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [_, f] : files_) f->flush();
  fflush(stderr);
}

}  // namespace evg
