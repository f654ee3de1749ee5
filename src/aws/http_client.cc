#include "aws/http_client.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <unordered_set>

#include "base/asio.h"

namespace evg::aws {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool hasHeader(const HeaderList& h, std::string_view name) {
  return std::any_of(h.begin(), h.end(), [&](const auto& kv) { return iequals(kv.first, name); });
}

}  // namespace

// ------------------------------------------------------------------------------- Endpoint

Result<Endpoint> Endpoint::parse(std::string_view url) {
  Endpoint e;
  std::string_view rest = url;
  if (rest.rfind("https://", 0) == 0) {
    rest.remove_prefix(8);
  } else if (rest.rfind("http://", 0) == 0) {
    e.tls = false;
    e.port = 80;
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return Status::invalid("endpoint \"" + std::string(url) +
                           "\": only http:// and https:// are supported");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    e.base_path = std::string(path);
  }
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    std::string_view p = authority.substr(colon + 1);
    unsigned long v = 0;
    bool ok = !p.empty() && p.size() <= 5;
    for (char c : p) ok = ok && std::isdigit(static_cast<unsigned char>(c));
    if (ok) v = std::stoul(std::string(p));
    if (!ok || v == 0 || v > 65535) {
      return Status::invalid("endpoint \"" + std::string(url) + "\": bad port \"" + std::string(p) +
                             "\"");
    }
    e.port = static_cast<uint16_t>(v);
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) {
    return Status::invalid("endpoint \"" + std::string(url) + "\": no host");
  }
  for (char c : authority) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
          c == '[' || c == ']' || c == ':')) {
      return Status::invalid("endpoint \"" + std::string(url) + "\": bad host character '" +
                             std::string(1, c) + "'");
    }
  }
  e.host = std::string(authority);
  return e;
}

std::string Endpoint::hostHeader() const {
  bool def = (tls && port == 443) || (!tls && port == 80);
  return def ? host : host + ":" + std::to_string(port);
}

std::string Endpoint::url() const {
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

const std::string* HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

bool isRetryableResponse(const HttpResponse& r) {
  if (r.status == 429 || r.status == 500 || r.status == 502 || r.status == 503 || r.status == 504) {
    return true;
  }
  if (r.status == 400) {
    static constexpr std::string_view kThrottling[] = {
        "ThrottlingException",  "ProvisionedThroughputExceededException",
        "RequestLimitExceeded", "TooManyRequestsException",
        "RequestThrottled",     "SlowDown",
        "Throttling",           "LimitExceededException"};
    for (auto code : kThrottling) {
      if (r.body.find(code) != std::string::npos) return true;
    }
  }
  return false;
}

// ------------------------------------------------------------------------------- internals

namespace {

struct Conn {
  std::string key;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buf;
  Clock::time_point idle_since;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  bool open() { return lowest().socket().is_open(); }
  void close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
  }
};

std::string connKey(const Endpoint& e) {
  return (e.tls ? "s:" : "p:") + e.host + ":" + std::to_string(e.port);
}

}  // namespace

struct Op;

struct HttpClient::Impl {
  asio::io_context& io;
  HttpClientOptions opts;
  TlsOptions tls_opts;
  Log log;
  std::unique_ptr<ssl::context> ctx;
  tcp::resolver resolver;
  std::map<std::string, std::deque<std::shared_ptr<Conn>>> idle;
  std::unordered_set<std::shared_ptr<Op>> active;
  HttpClientStats stats;
  std::mt19937_64 rng{std::random_device{}()};
  bool closed = false;

  Impl(asio::io_context& i, HttpClientOptions o, TlsOptions t, Log l)
      : io(i), opts(o), tls_opts(std::move(t)), log(std::move(l)), resolver(i) {}

  std::shared_ptr<Conn> takeIdle(const std::string& key) {
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto& q = it->second;
    while (!q.empty()) {
      auto c = q.back();
      q.pop_back();
      bool fresh = Clock::now() - c->idle_since < std::chrono::milliseconds(opts.idle_timeout_ms);
      if (c->open() && fresh) return c;
      c->close();
    }
    return nullptr;
  }

  void putIdle(std::shared_ptr<Conn> c) {
    if (closed || !c->open()) return;
    auto& q = idle[c->key];
    c->idle_since = Clock::now();
    c->lowest().expires_never();
    q.push_back(std::move(c));
    while (q.size() > opts.max_idle_per_endpoint) {
      q.front()->close();
      q.pop_front();
    }
  }

  uint32_t backoffMs(uint32_t attempt) {
    uint64_t cap = opts.retry_base_ms;
    for (uint32_t i = 1; i < attempt && cap < opts.retry_max_ms; ++i) cap *= 2;
    cap = std::min<uint64_t>(cap, opts.retry_max_ms);
    return static_cast<uint32_t>(std::uniform_int_distribution<uint64_t>(0, cap)(rng));
  }
};

struct Op : std::enable_shared_from_this<Op> {
  std::shared_ptr<HttpClient::Impl> impl;
  Endpoint ep;
  HttpRequest original;
  HttpClient::Callback cb;
  HttpClient::Prepare prepare;
  uint32_t attempt = 0;
  bool stale_retry_used = false;
  std::shared_ptr<Conn> conn;
  bool reused = false;
  http::request<http::string_body> req;
  std::optional<http::response_parser<http::string_body>> parser;
  asio::steady_timer timer;

  Op(std::shared_ptr<HttpClient::Impl> i, Endpoint e, HttpRequest r, HttpClient::Callback c,
     HttpClient::Prepare p)
      : impl(std::move(i)),
        ep(std::move(e)),
        original(std::move(r)),
        cb(std::move(c)),
        prepare(std::move(p)),
        timer(impl->io) {}

  void finish(Result<HttpResponse> r) {
    auto self = shared_from_this();
    impl->active.erase(self);
    if (impl->closed) return;
    if (!r) impl->stats.failures++;
    auto c = std::move(cb);
    c(std::move(r));
  }

  void start() {
    if (impl->closed) return;
    ++attempt;
    impl->stats.attempts++;
    HttpRequest r = original;
    r.target = ep.base_path + (r.target.empty() ? "/" : r.target);
    if (!hasHeader(r.headers, "host")) r.headers.emplace_back("Host", ep.hostHeader());
    if (prepare) {
      Status st = prepare(r);
      if (!st) return finish(st);
    }
    req = {};
    req.version(11);
    req.method_string(r.method);
    req.target(r.target);
    for (const auto& [k, v] : r.headers) req.insert(k, v);
    req.body() = std::move(r.body);
    req.keep_alive(true);
    req.prepare_payload();
    conn = impl->takeIdle(connKey(ep));
    reused = conn != nullptr;
    if (reused) {
      impl->stats.connections_reused++;
      write();
    } else {
      connect();
    }
  }

  void connect() {
    conn = std::make_shared<Conn>();
    conn->key = connKey(ep);
    if (ep.tls) {
      conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(impl->io, *impl->ctx);
      SSL* h = conn->tls->native_handle();
      SSL_set_tlsext_host_name(h, ep.host.c_str());
      if (impl->tls_opts.verify_host) {
        conn->tls->set_verify_callback(ssl::host_name_verification(ep.host));
      }
    } else {
      conn->plain = std::make_unique<beast::tcp_stream>(impl->io);
    }
    impl->stats.connections_opened++;
    auto self = shared_from_this();
    conn->lowest().expires_after(std::chrono::milliseconds(impl->opts.connect_timeout_ms));
    impl->resolver.async_resolve(
        ep.host, std::to_string(ep.port),
        [self](const beast::error_code& ec, tcp::resolver::results_type results) {
          if (self->impl->closed) return;
          if (ec) return self->fail(Status::io("resolve " + self->ep.host + ": " + ec.message()));
          self->conn->lowest().async_connect(
              results,
              [self](const beast::error_code& ec2, const tcp::endpoint&) { self->onConnect(ec2); });
        });
  }

  void onConnect(const beast::error_code& ec) {
    if (impl->closed) return;
    if (ec) {
      return fail(ec == beast::error::timeout
                      ? Status::timeout("connect to " + ep.url() + " timed out")
                      : Status::io("connect to " + ep.url() + ": " + ec.message()));
    }
    beast::error_code ignored;
    conn->lowest().socket().set_option(tcp::no_delay(true), ignored);
    if (!conn->tls) return write();
    auto self = shared_from_this();
    conn->tls->async_handshake(ssl::stream_base::client, [self](const beast::error_code& e) {
      if (self->impl->closed) return;
      if (e) {
        return self->fail(
            e == beast::error::timeout
                ? Status::timeout("TLS handshake with " + self->ep.url() + " timed out")
                : Status::io("TLS handshake with " + self->ep.url() + ": " + e.message()));
      }
      self->write();
    });
  }

  void write() {
    conn->lowest().expires_after(std::chrono::milliseconds(impl->opts.request_timeout_ms));
    auto self = shared_from_this();
    auto on_write = [self](const beast::error_code& ec, size_t) {
      if (self->impl->closed) return;
      if (ec) return self->transportError("write", ec);
      self->read();
    };
    if (conn->tls) {
      http::async_write(*conn->tls, req, on_write);
    } else {
      http::async_write(*conn->plain, req, on_write);
    }
  }

  void read() {
    parser.emplace();
    parser->body_limit(impl->opts.max_response_bytes);
    auto self = shared_from_this();
    auto on_read = [self](const beast::error_code& ec, size_t) {
      if (self->impl->closed) return;
      if (ec == http::error::body_limit || self->tooLarge()) return self->failTooLarge();
      if (ec) return self->transportError("read", ec);
      self->onResponse();
    };
    // Header first: a declared Content-Length above the bound fails before the body is read.
    auto on_header = [self, on_read](const beast::error_code& ec, size_t) {
      if (self->impl->closed) return;
      if (ec == http::error::body_limit || self->tooLarge()) return self->failTooLarge();
      if (ec) return self->transportError("read", ec);
      if (self->parser->is_done()) return self->onResponse();
      if (self->conn->tls) {
        http::async_read(*self->conn->tls, self->conn->buf, *self->parser, on_read);
      } else {
        http::async_read(*self->conn->plain, self->conn->buf, *self->parser, on_read);
      }
    };
    if (conn->tls) {
      http::async_read_header(*conn->tls, conn->buf, *parser, on_header);
    } else {
      http::async_read_header(*conn->plain, conn->buf, *parser, on_header);
    }
  }

  bool tooLarge() {
    auto len = parser->content_length();
    return (len && *len > impl->opts.max_response_bytes) ||
           (parser->is_done() && parser->get().body().size() > impl->opts.max_response_bytes);
  }

  void failTooLarge() {
    conn->close();
    finish(Status::tooLarge("response from " + ep.url() + " exceeds " +
                            std::to_string(impl->opts.max_response_bytes) + " bytes"));
  }

  void transportError(const char* what, const beast::error_code& ec) {
    conn->close();
    bool nothing_received = !parser || !parser->got_some();
    if (reused && nothing_received && !stale_retry_used && ec != beast::error::timeout) {
      // The server closed the pooled connection while it was idle: retry at once.
      stale_retry_used = true;
      --attempt;
      impl->stats.attempts--;
      return start();
    }
    if (ec == beast::error::timeout) {
      return fail(Status::timeout("request to " + ep.url() + " timed out after " +
                                  std::to_string(impl->opts.request_timeout_ms) + " ms"));
    }
    fail(Status::io(std::string(what) + " " + ep.url() + ": " + ec.message()));
  }

  void onResponse() {
    auto msg = parser->release();
    HttpResponse r;
    r.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) {
      r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    r.body = std::move(msg.body());
    if (msg.keep_alive()) {
      impl->putIdle(conn);
    } else {
      conn->close();
    }
    conn.reset();
    if (isRetryableResponse(r) && attempt < impl->opts.max_attempts) {
      return retryLater();
    }
    finish(std::move(r));
  }

  void fail(Status st) {
    if (conn) conn->close();
    conn.reset();
    if (attempt < impl->opts.max_attempts && st.code() != Code::kTooLarge) {
      impl->log.debug("attempt " + std::to_string(attempt) + " failed (" + st.message() +
                      "), retrying");
      return retryLater();
    }
    finish(std::move(st));
  }

  void retryLater() {
    impl->stats.retries++;
    timer.expires_after(std::chrono::milliseconds(impl->backoffMs(attempt)));
    auto self = shared_from_this();
    timer.async_wait([self](const beast::error_code& ec) {
      if (ec || self->impl->closed) return;
      self->start();
    });
  }

  void cancel() {
    beast::error_code ec;
    timer.cancel();
    if (conn) conn->close();
  }
};

// ------------------------------------------------------------------------------- HttpClient

Result<std::unique_ptr<HttpClient>> HttpClient::create(asio::io_context& io, HttpClientOptions opts,
                                                       TlsOptions tls, Log log) {
  auto impl = std::make_shared<Impl>(io, opts, tls, std::move(log));
  impl->ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  beast::error_code ec;
  impl->ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                             ssl::context::no_tlsv1_1,
                         ec);
  if (tls.ca_path.empty()) {
    impl->ctx->set_default_verify_paths(ec);
  } else {
    impl->ctx->load_verify_file(tls.ca_path, ec);
    if (ec) return Status::io("CA file " + tls.ca_path + ": " + ec.message());
  }
  if (!tls.cert_path.empty()) {
    impl->ctx->use_certificate_chain_file(tls.cert_path, ec);
    if (ec) return Status::io("client certificate " + tls.cert_path + ": " + ec.message());
    impl->ctx->use_private_key_file(tls.key_path, ssl::context::pem, ec);
    if (ec) return Status::io("client key " + tls.key_path + ": " + ec.message());
    if (SSL_CTX_check_private_key(impl->ctx->native_handle()) != 1) {
      return Status::invalid("client key " + tls.key_path + " does not match certificate " +
                             tls.cert_path);
    }
  }
  impl->ctx->set_verify_mode(ssl::verify_peer, ec);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

HttpClient::HttpClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() { shutdown(); }

void HttpClient::send(const Endpoint& ep, HttpRequest req, Callback cb, Prepare prepare) {
  if (impl_->closed) return;
  impl_->stats.requests++;
  auto op = std::make_shared<Op>(impl_, ep, std::move(req), std::move(cb), std::move(prepare));
  impl_->active.insert(op);
  op->start();
}

void HttpClient::shutdown() {
  if (impl_->closed) return;
  impl_->closed = true;
  for (auto& [k, q] : impl_->idle) {
    for (auto& c : q) c->close();
  }
  impl_->idle.clear();
  auto active = std::move(impl_->active);
  impl_->active.clear();
  for (const auto& op : active) op->cancel();
  impl_->resolver.cancel();
}

const HttpClientStats& HttpClient::stats() const { return impl_->stats; }

}  // namespace evg::aws
