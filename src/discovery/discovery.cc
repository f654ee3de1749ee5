#include "discovery/discovery.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/x509.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "base/accept_backoff.h"
#include "certs/certs.h"

namespace evg::discovery {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::json;

namespace {

constexpr std::string_view kPrefix = "/greengrass/discover/thing/";

Answer error(int status, const std::string& message) {
  return {status, json{{"errorMessage", message}}.dump()};
}

}  // namespace

Answer handleDiscover(std::string_view method, std::string_view target, std::string_view identity,
                      const DiscoveryInfo& info) {
  if (target.substr(0, kPrefix.size()) != kPrefix) {
    return error(404, "unknown path; expected /greengrass/discover/thing/<thingName>");
  }
  if (method != "GET") return error(405, "method not allowed; use GET");
  std::string_view thing = target.substr(kPrefix.size());
  if (auto q = thing.find('?'); q != std::string_view::npos) thing = thing.substr(0, q);
  if (thing.empty() || thing.find('/') != std::string_view::npos) {
    return error(400, "thing name missing or malformed");
  }
  if (thing != identity) {
    return error(403, "the client certificate belongs to " + std::string(identity) + ", not " +
                          std::string(thing));
  }
  if (!info.in_group || !info.in_group(thing)) {
    return error(404, "thing " + std::string(thing) + " is not in this core's group");
  }
  json conn = json::array();
  for (const auto& c : info.connectivity) {
    conn.push_back({{"Id", c.id},
                    {"HostAddress", c.host_address},
                    {"PortNumber", c.port},
                    {"Metadata", c.metadata}});
  }
  json body = {{"GGGroups", json::array({{{"GGGroupId", info.group_id},
                                          {"Cores", json::array({{{"thingArn", info.core_thing_arn},
                                                                  {"Connectivity", conn}}})},
                                          {"CAs", info.ca_pems}}})}};
  return {200, body.dump()};
}

std::vector<std::string> detectHostAddresses() {
  std::vector<std::string> v4, v6;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
      if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_UP) == 0 ||
          (a->ifa_flags & IFF_LOOPBACK) != 0) {
        continue;
      }
      char buf[INET6_ADDRSTRLEN] = {0};
      if (a->ifa_addr->sa_family == AF_INET) {
        auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
        if (inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf) != nullptr) v4.emplace_back(buf);
      } else if (a->ifa_addr->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
        if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr)) continue;  // needs a zone id to be useful
        if (inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf) != nullptr) v6.emplace_back(buf);
      }
    }
    freeifaddrs(list);
  }
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (auto* l : {&v4, &v6}) {
    for (auto& s : *l) {
      if (seen.insert(s).second) out.push_back(s);
    }
  }
  out.push_back("127.0.0.1");
  return out;
}

// ---- HTTPS transport ----

struct DiscoveryServer::Impl : std::enable_shared_from_this<DiscoveryServer::Impl> {
  Impl(boost::asio::io_context& io_, ServerOptions o, IdentityFn id, InfoFn in, Log l)
      : io(io_),
        opts(std::move(o)),
        identity(std::move(id)),
        info(std::move(in)),
        log(std::move(l)),
        acceptor(io_) {}
  void accept();

  boost::asio::io_context& io;
  ServerOptions opts;
  IdentityFn identity;
  InfoFn info;
  Log log;
  std::unique_ptr<ssl::context> ctx;
  std::vector<std::unique_ptr<ssl::context>>
      retired;  // contexts of connections made before a reload
  tcp::acceptor acceptor;
  AcceptBackoff accept_backoff{io};  // out of descriptors: retry later, do not spin
  size_t connections = 0;
  bool stopped = false;
};

namespace {

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(std::shared_ptr<DiscoveryServer::Impl> s, tcp::socket sock)
      : server_(std::move(s)), stream_(std::move(sock), *server_->ctx), timer_(server_->io) {
    ++server_->connections;
  }
  ~Conn() { --server_->connections; }

  void start() {
    auto self = shared_from_this();
    timer_.expires_after(server_->opts.request_timeout);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (ec) return;
      if (auto c = weak.lock()) c->close();
    });
    std::weak_ptr<Conn> weak = self;
    stream_.set_verify_callback([weak](bool preverified, ssl::verify_context& vctx) {
      auto c = weak.lock();
      if (!c) return false;
      X509_STORE_CTX* sc = vctx.native_handle();
      if (!preverified && !certs::isUnknownIssuerError(X509_STORE_CTX_get_error(sc))) return false;
      if (preverified && X509_STORE_CTX_get_error_depth(sc) != 0) return true;
      auto fp = certs::fingerprintSha256OfX509(X509_STORE_CTX_get0_cert(sc));
      if (!fp) return false;
      auto id = c->server_->identity(*fp);
      if (!id) return false;
      c->identity_ = *id;
      return true;
    });
    stream_.async_handshake(ssl::stream_base::server, [self](boost::system::error_code ec) {
      if (ec) {
        self->server_->log.debug("discovery: TLS handshake failed: " + ec.message());
        return self->close();
      }
      self->read();
    });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_->opts.max_header_bytes));
    parser_->body_limit(0);
    http::async_read(stream_, buf_, *parser_,
                     [self = shared_from_this()](boost::system::error_code ec, size_t) {
                       if (ec) {
                         if (ec != http::error::end_of_stream) {
                           self->respond(error(400, "bad request: " + ec.message()), false);
                         } else {
                           self->close();
                         }
                         return;
                       }
                       self->handle();
                     });
  }

  void handle() {
    const auto& req = parser_->get();
    std::string_view method(req.method_string().data(), req.method_string().size());
    std::string_view target(req.target().data(), req.target().size());
    Answer a = server_->stopped ? error(503, "shutting down")
                                : handleDiscover(method, target, identity_, server_->info());
    server_->log.info("discovery " + std::string(target) + " by " + identity_ + ": " +
                      std::to_string(a.status));
    respond(std::move(a), req.keep_alive());
  }

  void respond(Answer a, bool keep_alive) {
    res_ = {};
    res_.result(static_cast<unsigned>(a.status));
    res_.version(11);
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(keep_alive);
    res_.body() = std::move(a.body);
    res_.prepare_payload();
    http::async_write(
        stream_, res_,
        [self = shared_from_this(), keep_alive](boost::system::error_code ec, size_t) {
          if (ec || !keep_alive) return self->close();
          self->timer_.expires_after(self->server_->opts.request_timeout);
          self->read();
        });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    boost::system::error_code ec;
    stream_.next_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream_.next_layer().close(ec);
  }

  std::shared_ptr<DiscoveryServer::Impl> server_;
  ssl::stream<tcp::socket> stream_;
  boost::asio::steady_timer timer_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> res_;
  std::string identity_;
  bool closed_ = false;
};

}  // namespace

void DiscoveryServer::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
    if (self->stopped) return;
    if (!ec) {
      boost::system::error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);
      if (self->connections >= self->opts.max_connections) {
        self->log.warn("discovery: " + std::to_string(self->opts.max_connections) +
                       " connections open (limit), refusing one");
        s.close(ignored);
      } else {
        std::make_shared<Conn>(self, std::move(s))->start();
      }
    } else if (ec != boost::asio::error::operation_aborted) {
      return self->accept_backoff.failed(ec, self->log, "discovery: accept failed", [self] {
        if (!self->stopped) self->accept();
      });
    }
    if (!ec) self->accept_backoff.succeeded();
    self->accept();
  });
}

DiscoveryServer::DiscoveryServer(boost::asio::io_context& io, ServerOptions opts,
                                 IdentityFn identity, InfoFn info, Log log)
    : impl_(std::make_shared<Impl>(io, std::move(opts), std::move(identity), std::move(info),
                                   std::move(log))) {}

DiscoveryServer::~DiscoveryServer() { stop(); }

namespace {

Result<std::unique_ptr<ssl::context>> makeContext(const ServerOptions& o) {
  boost::system::error_code ec;
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (!ec) ctx->load_verify_file(o.ca_file, ec);
  if (!ec) ctx->use_certificate_chain_file(o.cert_file, ec);
  if (!ec) ctx->use_private_key_file(o.key_file, ssl::context::pem, ec);
  if (!ec) ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  if (ec) return Status::io("discovery TLS setup (" + o.cert_file + "): " + ec.message());
  return ctx;
}

}  // namespace

Status DiscoveryServer::reloadCertificate(const std::string& cert_file,
                                          const std::string& key_file) {
  ServerOptions o = impl_->opts;
  o.cert_file = cert_file;
  o.key_file = key_file;
  auto ctx = makeContext(o);
  if (!ctx) return ctx.status();
  impl_->opts = o;
  impl_->retired.push_back(std::move(impl_->ctx));
  impl_->ctx = std::move(*ctx);
  return Status::ok();
}

Status DiscoveryServer::start() {
  auto& o = impl_->opts;
  auto ctx = makeContext(o);
  if (!ctx) return ctx.status();
  impl_->ctx = std::move(*ctx);
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(o.bind_address, ec);
  if (ec) return Status::invalid("discovery bind address " + o.bind_address + ": " + ec.message());
  tcp::endpoint ep(addr, o.port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::io("discovery listener " + o.bind_address + ":" + std::to_string(o.port) + ": " +
                      ec.message());
  }
  impl_->accept();
  return Status::ok();
}

uint16_t DiscoveryServer::port() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void DiscoveryServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

}  // namespace evg::discovery
