#pragma once
// Per-function user logs: worker stdout/stderr and the _GG_LOG_FD_* pipes are read on the event
// loop, split into lines and appended to DIR/var/log/user/<region>/<account>/<function>.log in
// v1's line format "[<ISO-8601>][<LEVEL>]-<file>:<line>,<message>" (the runtime writes
// "<file>:<line>,<message>"; plain prints appear as "[ts][INFO]-<text>").
// The file is an evg::RotatingFile (size-rotated, disk-bounded); writes happen on the loop thread
// (small appends, flushed once per pipe read batch).

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "base/log.h"

namespace evg::supervisor {

// "[ts][LEVEL]-" + line + "\n"
std::string formatUserLogLine(std::string_view timestamp, LogLevel level, std::string_view line);

// Path of a function's user log.
std::string userLogPath(const std::string& root_dir, const std::string& region,
                        const std::string& account, const std::string& function_name);

// Reads one pipe until EOF, writing lines to `file`. Lines longer than max_line are split.
// Keeps itself alive while reading; close() stops it early.
class LogPipeReader : public std::enable_shared_from_this<LogPipeReader> {
 public:
  static std::shared_ptr<LogPipeReader> start(boost::asio::io_context& io, int fd, LogLevel level,
                                              std::shared_ptr<RotatingFile> file,
                                              size_t max_line = 16 * 1024);
  ~LogPipeReader();
  void close();

  struct Impl;

 private:
  explicit LogPipeReader(std::unique_ptr<Impl> impl);
  void read();
  std::unique_ptr<Impl> impl_;
};

}  // namespace evg::supervisor
