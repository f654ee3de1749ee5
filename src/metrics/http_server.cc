#include "metrics/http_server.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <optional>

namespace evg::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Session;

// State shared by the server and its sessions: sessions may outlive the server object by a few
// loop iterations (their handlers are queued), so they never reference it directly.
struct HttpServer::Shared {
  Handler handler;
  HttpServerOptions opts;
  Log log;
  std::list<std::weak_ptr<Session>> sessions;
  bool stopped = false;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, std::shared_ptr<HttpServer::Shared> shared)
      : stream_(std::move(s)), shared_(std::move(shared)) {}
  std::list<std::weak_ptr<Session>>::iterator self_it;

  void start() { read(); }
  void close() {
    boost::system::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }
  ~Session() {
    if (shared_ && !shared_->stopped) shared_->sessions.erase(self_it);
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(shared_->opts.max_header_bytes));
    parser_->body_limit(0);  // GET/HEAD only: no bodies
    stream_.expires_after(shared_->opts.timeout);
    auto self = shared_from_this();
    http::async_read(stream_, buffer_, *parser_,
                     [self](beast::error_code ec, size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted) {
      close();
      return;
    }
    if (ec) {
      // Malformed or oversized request: answer 400 naming the problem, then close.
      HttpResponse r{400, "text/plain; charset=utf-8", "bad request: " + ec.message() + "\n"};
      write(std::move(r), false, 11, "GET");
      return;
    }
    auto& req = parser_->get();
    HttpRequest hr{std::string(req.method_string()), std::string(req.target())};
    HttpResponse r;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      r = {405, "text/plain; charset=utf-8", "only GET and HEAD are supported\n"};
    } else {
      r = shared_->handler(hr);
    }
    write(std::move(r), req.keep_alive(), req.version(), hr.method);
  }

  void write(HttpResponse r, bool keep_alive, unsigned version, const std::string& method) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version);
    res->set(http::field::server, "evergreen");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    res->keep_alive(keep_alive);
    if (method == "HEAD") {
      res->content_length(r.body.size());
    } else {
      res->body() = std::move(r.body);
      res->prepare_payload();
    }
    stream_.expires_after(shared_->opts.timeout);
    auto self = shared_from_this();
    http::async_write(stream_, *res, [self, res](beast::error_code ec, size_t) {
      if (ec || !res->keep_alive()) {
        self->close();
        return;
      }
      self->read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::shared_ptr<HttpServer::Shared> shared_;
};

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions opts, Handler handler, Log log)
    : io_(io), opts_(opts), log_(log), shared_(std::make_shared<Shared>()) {
  shared_->handler = std::move(handler);
  shared_->opts = std::move(opts);
  shared_->log = std::move(log);
}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(opts_.address, ec);
  if (ec) return Status::invalid("metrics address '" + opts_.address + "': " + ec.message());
  tcp::endpoint ep(addr, opts_.port);
  acceptor_ = std::make_unique<tcp::acceptor>(io_);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::io("cannot listen on " + opts_.address + ":" + std::to_string(opts_.port) +
                      ": " + ec.message());
  }
  port_ = acceptor_->local_endpoint().port();
  accept();
  return Status::ok();
}

void HttpServer::stop() {
  if (!acceptor_) return;
  boost::system::error_code ec;
  acceptor_->close(ec);
  acceptor_.reset();
  shared_->stopped = true;
  for (auto& w : shared_->sessions) {
    if (auto s = w.lock()) s->close();
  }
  shared_->sessions.clear();
}

void HttpServer::accept() {
  acceptor_->async_accept([this](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor_) return;
    if (ec) {
      return accept_backoff_.failed(ec, log_, "metrics: accept failed", [this] {
        if (acceptor_) accept();
      });
    }
    accept_backoff_.succeeded();
    {
      if (shared_->sessions.size() >= shared_->opts.max_connections) {
        log_.warn("metrics: connection from " + s.remote_endpoint(ec).address().to_string() +
                  " refused: " + std::to_string(shared_->opts.max_connections) +
                  " connections open (evergreen.metrics.maxConnections)");
        s.close(ec);
      } else {
        s.set_option(tcp::no_delay(true), ec);
        auto session = std::make_shared<Session>(std::move(s), shared_);
        shared_->sessions.push_front(session);
        session->self_it = shared_->sessions.begin();
        session->start();
      }
    }
    accept();
  });
}

}  // namespace evg::metrics
