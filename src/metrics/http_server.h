#pragma once
// A small HTTP/1.1 server (Boost.Beast) on the core's io_context for GET /metrics and /health/*.
// Bounded: concurrent connections (extra ones are closed at accept), request header size, no
// request bodies, an idle/read timeout per request. The handler runs on the loop thread and
// answers synchronously, so a scrape sees one consistent snapshot of the core's counters — and a
// blocked loop cannot answer at all (which is what a liveness probe should notice).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/accept_backoff.h"
#include "base/asio.h"
#include "base/log.h"
#include "base/status.h"

namespace evg::metrics {

struct HttpRequest {
  std::string method;  // "GET", "HEAD", ...
  std::string target;  // "/metrics", "/health/ready?x=1"
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = ephemeral (see port())
  size_t max_connections = 16;
  size_t max_header_bytes = 8192;
  std::chrono::milliseconds timeout{10000};  // per request: read + write
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpServer(boost::asio::io_context& io, HttpServerOptions opts, Handler handler, Log log);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; Status::io naming the address on failure.
  Status start();
  // Closes the listener and every open connection.
  void stop();
  uint16_t port() const { return port_; }

  struct Shared;

 private:
  void accept();
  boost::asio::io_context& io_;
  HttpServerOptions opts_;
  Log log_;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  AcceptBackoff accept_backoff_{io_};  // out of descriptors: retry later, do not spin
  uint16_t port_ = 0;
};

}  // namespace evg::metrics
