#include "supervisor/log_pipe.h"

#include <boost/asio/posix/stream_descriptor.hpp>

namespace evg::supervisor {

std::string formatUserLogLine(std::string_view timestamp, LogLevel level, std::string_view line) {
  std::string out;
  out.reserve(line.size() + timestamp.size() + 16);
  out += '[';
  out += timestamp;
  out += "][";
  out += logLevelName(level);
  out += "]-";
  out += line;
  out += '\n';
  return out;
}

std::string userLogPath(const std::string& root_dir, const std::string& region,
                        const std::string& account, const std::string& function_name) {
  return root_dir + "/var/log/user/" + (region.empty() ? "local" : region) + "/" +
         (account.empty() ? "local" : account) + "/" + function_name + ".log";
}

struct LogPipeReader::Impl {
  Impl(boost::asio::io_context& io, int fd, LogLevel l, std::shared_ptr<RotatingFile> f, size_t m)
      : sd(io, fd), level(l), file(std::move(f)), max_line(m) {}
  boost::asio::posix::stream_descriptor sd;
  LogLevel level;
  std::shared_ptr<RotatingFile> file;
  size_t max_line;
  std::string pending;
  char buf[4096];

  void emit(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    do {  // over-long lines become several records
      std::string_view part = line.substr(0, max_line);
      (void)file->append(formatUserLogLine(isoTimestampNow(), level, part));
      line.remove_prefix(part.size());
    } while (!line.empty());
  }
  void consume(size_t n) {
    pending.append(buf, n);
    size_t start = 0;
    while (true) {
      size_t nl = pending.find('\n', start);
      if (nl == std::string::npos) break;
      emit(std::string_view(pending).substr(start, nl - start));
      start = nl + 1;
    }
    pending.erase(0, start);
    while (pending.size() > max_line) {
      emit(std::string_view(pending).substr(0, max_line));
      pending.erase(0, max_line);
    }
    file->flush();  // one write(2) per pipe read batch, so logs are visible promptly
  }
  void finish() {
    if (!pending.empty()) emit(pending);
    pending.clear();
    file->flush();
  }
};

std::shared_ptr<LogPipeReader> LogPipeReader::start(boost::asio::io_context& io, int fd,
                                                    LogLevel level,
                                                    std::shared_ptr<RotatingFile> file,
                                                    size_t max_line) {
  auto r = std::shared_ptr<LogPipeReader>(
      new LogPipeReader(std::make_unique<Impl>(io, fd, level, std::move(file), max_line)));
  r->read();
  return r;
}

LogPipeReader::LogPipeReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LogPipeReader::~LogPipeReader() = default;

void LogPipeReader::close() {
  boost::system::error_code ec;
  impl_->sd.close(ec);
}

void LogPipeReader::read() {
  impl_->sd.async_read_some(boost::asio::buffer(impl_->buf),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              if (n > 0) self->impl_->consume(n);
                              if (ec) {
                                self->impl_->finish();
                                return;
                              }
                              self->read();
                            });
}

}  // namespace evg::supervisor
