#pragma once
// Test-only: a one-thread blocking HTTP/1.1 server (plain or TLS, optionally requiring a client
// certificate) for the aws and tes unit tests. Serves one connection at a time.

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <functional>
#include <string>
#include <thread>

#include "aws/aws_client.h"
#include "aws/sigv4.h"
#include "base/asio.h"

namespace evg::aws::testsupport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Req = http::request<http::string_body>;
using Res = http::response<http::string_body>;

// One-thread blocking server: serves one connection at a time.
class TestServer {
 public:
  struct Options {
    std::string cert_dir;  // non-empty: TLS with server.pem/server.key, clients verified by CA
    bool require_client_cert = false;
    bool close_silently_after_response = false;  // keep-alive promised, then closed
    bool never_answer = false;
  };
  using Handler = std::function<Res(const Req&)>;

  TestServer(Options o, Handler h) : opts_(std::move(o)), handler_(std::move(h)) {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    if (!opts_.cert_dir.empty()) {
      ctx_.use_certificate_chain_file(opts_.cert_dir + "/server.pem");
      ctx_.use_private_key_file(opts_.cert_dir + "/server.key", ssl::context::pem);
      ctx_.load_verify_file(opts_.cert_dir + "/group-ca.pem");
      if (opts_.require_client_cert) {
        ctx_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      }
    }
    thread_ = std::thread([this] { run(); });
  }
  ~TestServer() {
    stop_ = true;
    beast::error_code ec;
    tcp::socket s(io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::atomic<int> connections{0};
  std::atomic<int> requests{0};

 private:
  template <class Stream>
  void serve(Stream& s) {
    beast::flat_buffer buf;
    for (;;) {
      Req req;
      beast::error_code ec;
      http::read(s, buf, req, ec);
      if (ec) return;
      requests++;
      if (opts_.never_answer) continue;
      Res res = handler_(req);
      res.version(11);
      res.keep_alive(true);
      res.prepare_payload();
      http::write(s, res, ec);
      if (ec || opts_.close_silently_after_response) return;
    }
  }
  void run() {
    while (!stop_) {
      tcp::socket sock(io_);
      beast::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) return;
      connections++;
      if (opts_.cert_dir.empty()) {
        serve(sock);
      } else {
        beast::ssl_stream<tcp::socket> tls(std::move(sock), ctx_);
        tls.handshake(ssl::stream_base::server, ec);
        if (!ec) serve(tls);
      }
    }
  }
  Options opts_;
  Handler handler_;
  asio::io_context io_;
  ssl::context ctx_{ssl::context::tls_server};
  tcp::acceptor acceptor_{io_};
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

inline Res text(int status, std::string body) {
  Res r;
  r.result(static_cast<unsigned>(status));
  r.body() = std::move(body);
  return r;
}

// Rebuilds the signable request from what a server received, to re-verify its SigV4 signature as
// AWS does: every header but Authorization (returned in *authorization) and Content-Length (added
// after signing).
inline SignableRequest signableFrom(const Req& req, std::string* authorization) {
  SignableRequest s;
  s.method = std::string(req.method_string());
  auto [path, query] = splitTarget(std::string(req.target()));
  s.path = path;
  s.query = query;
  for (const auto& f : req) {
    std::string name(f.name_string());
    if (name == "Authorization") {
      *authorization = std::string(f.value());
      continue;
    }
    if (name == "Content-Length") continue;
    s.headers.emplace_back(name, std::string(f.value()));
  }
  s.payload = req.body();
  return s;
}

}  // namespace evg::aws::testsupport
