#pragma once
// Logging: v1-style lines "[<ISO-8601>][<LEVEL>]-<component>: <message>" to stderr (foreground) and
// to size-rotated files DIR/var/log/system/<component>.log (v1: 128 KB per component by default).
// Disk bound per component file = maxFileBytes * (keepFiles + 1).
// Thread-safe: Logger serialises writes with a mutex (log calls may come from the worker pool).

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/status.h"

namespace evg {

enum class LogLevel { kTrace = 0, kDebug, kInfo, kWarn, kError, kFatal };
std::string_view logLevelName(LogLevel l);
// Accepts v1 names: TRACE, DEBUG, INFO, WARN, ERROR, FATAL (case-insensitive).
Result<LogLevel> parseLogLevel(std::string_view s);

// ISO-8601 local time with milliseconds and offset: 2019-07-01T15:57:59.286+05:30.
std::string isoTimestampNow();

// A file that rotates by size: path -> path.1 -> ... -> path.<keep>; the oldest is deleted.
class RotatingFile {
 public:
  RotatingFile(std::string path, size_t max_bytes, int keep);
  ~RotatingFile();
  RotatingFile(const RotatingFile&) = delete;
  RotatingFile& operator=(const RotatingFile&) = delete;
  // Appends data (normally whole lines); rotates first if it would exceed max_bytes.
  Status append(std::string_view data);
  void flush();
  const std::string& path() const { return path_; }

 private:
  Status openIfNeeded();
  void rotate();
  std::string path_;
  size_t max_bytes_;
  int keep_;
  FILE* f_ = nullptr;
  size_t size_ = 0;
};

struct LogOptions {
  std::string dir;  // empty: no files (stderr only)
  LogLevel level = LogLevel::kInfo;
  bool to_stderr = true;
  size_t max_file_bytes = 128 * 1024;
  int keep_files = 1;
};

class Logger {
 public:
  explicit Logger(LogOptions opts);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool enabled(LogLevel l) const { return l >= opts_.level; }
  void setLevel(LogLevel l) { opts_.level = l; }
  void log(LogLevel l, std::string_view component, std::string_view msg);
  void flush();

 private:
  LogOptions opts_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<RotatingFile>, std::less<>> files_;
};

// Component-scoped handle, cheap to copy. A default-constructed Log discards everything.
class Log {
 public:
  Log() = default;
  Log(Logger* logger, std::string component) : logger_(logger), component_(std::move(component)) {}
  bool enabled(LogLevel l) const { return logger_ != nullptr && logger_->enabled(l); }
  void log(LogLevel l, std::string_view msg) const {
    if (enabled(l)) logger_->log(l, component_, msg);
  }
  void trace(std::string_view m) const { log(LogLevel::kTrace, m); }
  void debug(std::string_view m) const { log(LogLevel::kDebug, m); }
  void info(std::string_view m) const { log(LogLevel::kInfo, m); }
  void warn(std::string_view m) const { log(LogLevel::kWarn, m); }
  void error(std::string_view m) const { log(LogLevel::kError, m); }
  Log child(std::string component) const { return Log(logger_, std::move(component)); }
  Logger* logger() const { return logger_; }

 private:
  Logger* logger_ = nullptr;
  std::string component_;
};

}  // namespace evg
