#include "ipc/ipc_server.h"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <unordered_map>

namespace evg::ipc {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
class Session;
}

struct IpcServer::Impl {
  Impl(asio::io_context& io_, IpcCore& c, IpcServerOptions o, Log l)
      : io(io_), core(&c), opts(std::move(o)), log(std::move(l)), acceptor(io_) {}
  void accept();
  void deliver(ParkId park, HttpResponse r);

  asio::io_context& io;
  IpcCore* core;  // null after stop()
  IpcServerOptions opts;
  Log log;
  tcp::acceptor acceptor;
  uint16_t port = 0;
  ParkId next_park = 1;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  std::unordered_map<ParkId, std::weak_ptr<Session>> parked;
  std::weak_ptr<Impl> shared_from_impl;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<IpcServer::Impl> server, tcp::socket socket)
      : server_(std::move(server)), socket_(std::move(socket)) {}

  void start() { readRequest(); }

  void close() {
    cancelPark();
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  // The core answered our parked request.
  void deliverParked(HttpResponse r) {
    park_ = 0;
    beast::error_code ec;
    socket_.cancel(ec);  // stop the disconnect watch
    writeResponse(std::move(r));
  }

  ~Session() {
    cancelPark();
    server_->sessions.erase(this);
  }

 private:
  void cancelPark() {
    if (park_ == 0) return;
    ParkId p = park_;
    park_ = 0;
    server_->parked.erase(p);
    if (server_->core != nullptr) server_->core->cancel(p);
  }

  void readRequest() {
    parser_.emplace();
    parser_->body_limit(server_->opts.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_->opts.max_header_bytes));
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted) return close();
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      return writeResponse(errorResponse(Status::tooLarge(
          "request body exceeds " + std::to_string(server_->opts.max_body_bytes) + " bytes")));
    }
    if (ec) {
      if (ec != asio::error::connection_reset && ec != asio::error::eof) {
        server_->log.debug("ipc read: " + ec.message());
      }
      return close();
    }
    if (server_->core == nullptr) return close();
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    std::string target(msg.target());
    req.path = std::string(target.substr(0, target.find('?')));
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers[name] = std::string(f.value());
    }
    req.body = std::move(msg.body());
    // Register the park before handling: the core may answer it re-entrantly (a listener
    // callback stopping this very worker) before handle() returns.
    ParkId park = server_->next_park++;
    park_ = park;
    server_->parked[park] = weak_from_this();
    auto answer = server_->core->handle(req, park);
    if (answer) {
      server_->parked.erase(park);
      park_ = 0;
      return writeResponse(std::move(*answer));
    }
    if (park_ == park) watchDisconnect();  // else: already answered during handle()
  }

  // While parked, a readable socket means EOF (client gone) or a pipelined request.
  void watchDisconnect() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      if (ec || self->park_ == 0) return;
      char c;
      ssize_t n = ::recv(self->socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) self->close();
      // n > 0: pipelined data; it is read after the parked answer is written.
    });
  }

  void writeResponse(HttpResponse r) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(r.status));
    res->set(http::field::server, "evergreen");
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    http::async_write(socket_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !self->keep_alive_) return self->close();
                        self->readRequest();
                      });
  }

  std::shared_ptr<IpcServer::Impl> server_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  ParkId park_ = 0;
};

}  // namespace

void IpcServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      if (sessions.size() >= opts.max_connections) {
        log.warn("ipc connection refused: max_connections (" +
                 std::to_string(opts.max_connections) + ") reached");
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        // Sessions keep the Impl alive through their shared_ptr.
        auto self = std::shared_ptr<Impl>(shared_from_impl.lock());
        auto s = std::make_shared<Session>(self, std::move(socket));
        sessions[s.get()] = s;
        s->start();
      }
    }
    accept();
  });
}

void IpcServer::Impl::deliver(ParkId park, HttpResponse r) {
  auto it = parked.find(park);
  if (it == parked.end()) return;
  auto s = it->second.lock();
  parked.erase(it);
  if (s) s->deliverParked(std::move(r));
}

IpcServer::IpcServer(asio::io_context& io, IpcCore& core, IpcServerOptions opts, Log log)
    : impl_(std::make_shared<Impl>(io, core, std::move(opts), std::move(log))) {
  impl_->shared_from_impl = impl_;
  std::weak_ptr<Impl> weak = impl_;
  core.setResponder([weak](ParkId park, HttpResponse r) {
    if (auto impl = weak.lock()) impl->deliver(park, std::move(r));
  });
}

IpcServer::~IpcServer() { stop(); }

Status IpcServer::start() {
  beast::error_code ec;
  auto addr = asio::ip::make_address(impl_->opts.address, ec);
  if (ec) return Status::invalid("bad IPC listen address \"" + impl_->opts.address + "\"");
  tcp::endpoint ep(addr, impl_->opts.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    a.close(ignored);
    return Status::io("IPC server cannot listen on " + impl_->opts.address + ":" +
                      std::to_string(impl_->opts.port) + ": " + ec.message());
  }
  impl_->port = a.local_endpoint().port();
  impl_->log.info("IPC server listening on " + impl_->opts.address + ":" +
                  std::to_string(impl_->port));
  impl_->accept();
  return Status::ok();
}

uint16_t IpcServer::port() const { return impl_->port; }

size_t IpcServer::connectionCount() const { return impl_->sessions.size(); }

void IpcServer::stop() {
  if (!impl_) return;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  std::vector<std::shared_ptr<Session>> live;
  for (auto& [_, w] : impl_->sessions) {
    if (auto s = w.lock()) live.push_back(s);
  }
  for (auto& s : live) s->close();
  impl_->parked.clear();
  impl_->core = nullptr;
}

}  // namespace evg::ipc
