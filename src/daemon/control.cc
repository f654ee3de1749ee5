#include "daemon/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/json.h"

namespace evg::daemon {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

class ControlServer::Conn : public std::enable_shared_from_this<ControlServer::Conn> {
 public:
  Conn(local::socket s, Handler& h, Log log)
      : sock_(std::move(s)), handler_(h), log_(std::move(log)) {}
  void start() { read(); }

 private:
  void read() {
    auto self = shared_from_this();
    asio::async_read_until(
        sock_, asio::dynamic_buffer(buf_, kMaxControlRequestBytes), '\n',
        [self](boost::system::error_code ec, size_t n) {
          if (ec) {
            if (ec == asio::error::not_found) {
              self->send({{"ok", false},
                          {"error", "control request larger than " +
                                        std::to_string(kMaxControlRequestBytes) + " bytes"}});
            }
            return;
          }
          std::string line = self->buf_.substr(0, n);
          self->buf_.erase(0, n);
          self->dispatch(line);
        });
  }
  void dispatch(const std::string& line) {
    auto parsed = parseJson(line);
    if (!parsed || !parsed->is_object()) {
      send({{"ok", false},
            {"error", "control request is not a JSON object" +
                          (parsed ? std::string() : ": " + parsed.status().message())}});
      return;
    }
    auto self = shared_from_this();
    handler_(*parsed, [self](nlohmann::json resp) { self->send(std::move(resp)); });
  }
  void send(nlohmann::json resp) {
    auto out = std::make_shared<std::string>(
        resp.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    auto self = shared_from_this();
    asio::async_write(sock_, asio::buffer(*out),
                      [self, out](boost::system::error_code, size_t) { self->read(); });
  }
  local::socket sock_;
  Handler& handler_;
  Log log_;
  std::string buf_;
};

ControlServer::ControlServer(asio::io_context& io, std::string socket_path, Handler handler,
                             Log log)
    : io_(io), path_(std::move(socket_path)), handler_(std::move(handler)), log_(std::move(log)) {}

ControlServer::~ControlServer() { stop(); }

Status ControlServer::start() {
  if (path_.size() >= sizeof(sockaddr_un::sun_path)) {
    return Status::invalid("control socket path too long (" + std::to_string(path_.size()) +
                           " bytes): " + path_);
  }
  // A live core answers on the socket; a stale file from a crash does not.
  if (::access(path_.c_str(), F_OK) == 0) {
    auto r = controlCall(path_, {{"op", "status"}}, 500);
    if (r.isOk()) return Status::busy("another core is already running on " + path_);
    ::unlink(path_.c_str());
  }
  boost::system::error_code ec;
  acceptor_ = std::make_unique<local::acceptor>(io_);
  acceptor_->open(local(), ec);
  if (!ec) acceptor_->bind(local::endpoint(path_), ec);
  if (!ec) acceptor_->listen(16, ec);
  if (ec) return Status::io("control socket " + path_ + ": " + ec.message());
  ::chmod(path_.c_str(), 0600);
  accept();
  return Status::ok();
}

void ControlServer::stop() {
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
    acceptor_.reset();
    ::unlink(path_.c_str());
  }
}

void ControlServer::accept() {
  acceptor_->async_accept([this](boost::system::error_code ec, local::socket s) {
    if (ec == boost::asio::error::operation_aborted || !acceptor_) return;  // closed
    if (ec) {
      return accept_backoff_.failed(ec, log_, "control socket accept failed", [this] {
        if (acceptor_) accept();
      });
    }
    accept_backoff_.succeeded();
    std::make_shared<Conn>(std::move(s), handler_, log_)->start();
    accept();
  });
}

Result<nlohmann::json> controlCall(const std::string& socket_path, const nlohmann::json& request,
                                   int timeout_ms) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::io(std::string("socket: ") + strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return Status::invalid("control socket path too long: " + socket_path);
  }
  memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    return Status::notFound("no core is running (control socket " + socket_path + ": " +
                            strerror(e) + ")");
  }
  std::string out = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::write(fd, out.data() + off, out.size() - off);
    if (n <= 0) {
      ::close(fd);
      return Status::io(std::string("control write: ") + strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  std::string in;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[65536];
  while (in.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      ::close(fd);
      return Status::timeout("core did not answer within " + std::to_string(timeout_ms) + " ms");
    }
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left));
    if (pr <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      ::close(fd);
      return Status::io("core closed the control connection");
    }
    in.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto resp = parseJson(in.substr(0, in.find('\n')));
  if (!resp) return Status::corruption("core sent a malformed control response");
  return resp;
}

}  // namespace evg::daemon
