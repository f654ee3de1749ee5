#pragma once
// HttpClient: a small asynchronous HTTP/1.1 client (Boost.Beast over Asio, TLS via OpenSSL) for
// calls to AWS services and AWS-compatible endpoints. It is what the credential provider
// (src/tes) and the stream manager's exporters use; pair it with aws/sigv4.h through the
// per-attempt Prepare hook (see aws/aws_client.h for the signed wrapper).
//
// * Connection reuse: keep-alive connections are pooled per endpoint (scheme, host, port) and
//   reused; an idle connection older than idle_timeout_ms is closed instead of reused. A request
//   that fails on a reused connection before any response byte (the server closed it while idle)
//   is retried at once on a fresh connection without counting as an attempt.
// * Timeouts: connect_timeout_ms for resolve + connect + TLS handshake, request_timeout_ms for
//   writing the request and reading the whole response.
// * Retries: transport errors, 429, 5xx and 400 bodies naming a throttling error are retried up to
//   max_attempts in total, after a "full jitter" delay: uniform in [0, min(retry_max_ms,
//   retry_base_ms * 2^(attempt-1))].
// * TLS: server verified against TlsOptions::ca_path (or the system store) and its name checked
//   against the endpoint host (SNI sent); optional client certificate for mutual TLS.
// * Bounds: response bodies above max_response_bytes fail with TooLarge (not retried).
//
// Threading: every call on the io_context's thread; callbacks run there. After shutdown() (or
// destruction) no callback is called any more; requests in flight are abandoned.

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "aws/sigv4.h"
#include "base/log.h"
#include "base/status.h"

namespace evg::aws {

struct Endpoint {
  bool tls = true;
  std::string host;
  uint16_t port = 443;
  std::string base_path;  // path prefix of the URL without trailing slash ("" = none)

  // "https://host[:port][/prefix]" or "http://..." ("host[:port]" alone means https).
  // Invalid naming the problem otherwise.
  static Result<Endpoint> parse(std::string_view url);
  // Value for the Host header: host, plus ":port" when it is not the scheme's default.
  std::string hostHeader() const;
  std::string url() const;  // scheme://host:port
};

struct TlsOptions {
  std::string ca_path;      // PEM trust anchors; empty = the system's default store
  std::string cert_path;    // client certificate (PEM) for mutual TLS; empty = none
  std::string key_path;     // its private key
  bool verify_host = true;  // check the server certificate's names against Endpoint::host
};

struct HttpClientOptions {
  uint32_t connect_timeout_ms = 5000;
  uint32_t request_timeout_ms = 10000;
  uint32_t max_attempts = 3;  // total tries of one request (1 = no retry)
  uint32_t retry_base_ms = 100;
  uint32_t retry_max_ms = 5000;
  size_t max_idle_per_endpoint = 4;
  uint32_t idle_timeout_ms = 30000;
  size_t max_response_bytes = 16u << 20;
};

struct HttpRequest {
  std::string method = "GET";
  std::string target =
      "/";             // path and query as sent ("/a/b?x=1"); Endpoint::base_path is prepended
  HeaderList headers;  // Host and Content-Length are added when absent
  std::string body;
};

struct HttpResponse {
  int status = 0;
  HeaderList headers;
  std::string body;
  const std::string* header(std::string_view name) const;  // case-insensitive
};

struct HttpClientStats {
  uint64_t requests = 0;
  uint64_t attempts = 0;
  uint64_t retries = 0;
  uint64_t connections_opened = 0;
  uint64_t connections_reused = 0;
  uint64_t failures = 0;  // requests whose callback got an error status
};

// True for responses worth retrying: 429, 500, 502, 503, 504, and 400 whose body names a
// throttling error (ThrottlingException, ProvisionedThroughputExceededException, SlowDown, ...).
bool isRetryableResponse(const HttpResponse& r);

class HttpClient {
 public:
  using Callback = std::function<void(Result<HttpResponse>)>;
  // Runs before every attempt on a fresh copy of the request (absolute target already
  // prefixed, Host set): the place to sign. An error ends the request with that status.
  using Prepare = std::function<Status(HttpRequest&)>;

  // Loads the TLS material (Io/Invalid naming the file on failure).
  static Result<std::unique_ptr<HttpClient>> create(boost::asio::io_context& io,
                                                    HttpClientOptions opts, TlsOptions tls,
                                                    Log log);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `req` to `ep`; `cb` gets the final response (any status, after retries) or an error:
  // Timeout, Io (connect/TLS/transport, message names the endpoint), TooLarge.
  void send(const Endpoint& ep, HttpRequest req, Callback cb, Prepare prepare = {});
  // Closes pooled connections and abandons requests in flight (no more callbacks). Idempotent.
  void shutdown();
  const HttpClientStats& stats() const;

  struct Impl;

 private:
  explicit HttpClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace evg::aws
