#pragma once
// CredentialProvider: the core's token exchange service (TES). It fetches temporary AWS
// credentials from the AWS IoT credentials provider over mutual TLS with the core's IoT
// certificate, caches them, refreshes them ahead of expiry, and serves them to
//  * functions: E9 on the IPC port (ipc::CredentialSource), the container-credentials JSON;
//  * the core itself: aws::CredentialsSource for aws::AwsClient (stream manager exporters).
//
//   start() ─▶ fetch ─GET /role-aliases/<alias>/credentials (x-amzn-iot-thingname)─▶ provider
//      ▲         │ 200: cache, body for E9 precomputed, answer waiters,
//      │         │      timer at refreshAtMs(...) ──▶ fetch
//      │         └ error: keep still-valid cache, answer waiters 503 if none,
//      └──────────────── timer after backoff (retryInitialMs doubling to retryMaxMs, jitter)
//
// One fetch at a time whatever the number of callers (E9 requests never trigger a fetch:
// without valid credentials they wait up to serve_wait_ms for the fetch in flight or the next
// retry, else get 503 naming the last error). Secrets are never logged; the log names the role
// alias, the expiry and errors.
//
// Threading: the io_context's thread only.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "aws/aws_client.h"
#include "aws/http_client.h"
#include "base/log.h"
#include "base/status.h"
#include "ipc/credential_source.h"
#include "tes/credentials.h"

namespace evg::tes {

struct ProviderOptions {
  aws::Endpoint endpoint;  // the account's iot:CredentialProvider endpoint
  std::string role_alias;
  std::string thing_name;  // sent as x-amzn-iot-thingname
  aws::TlsOptions tls;     // CA + the core's IoT certificate and key
  int64_t refresh_margin_ms = 900000;
  uint32_t request_timeout_ms = 10000;
  uint32_t retry_initial_ms = 1000;
  uint32_t retry_max_ms = 60000;
  uint32_t serve_wait_ms = 3000;
  size_t max_waiting = 1024;
  std::function<int64_t()> now_ms;  // wall clock, ms since the epoch; default system clock
};

enum class ProviderState { kStarting, kOk, kFailing, kStopped };
std::string_view providerStateName(ProviderState s);  // "starting", "ok", "failing", "stopped"

struct ProviderStats {
  ProviderState state = ProviderState::kStarting;
  uint64_t fetches = 0;         // requests sent to the credentials provider
  uint64_t fetch_failures = 0;  // of which failed (transport, HTTP status, bad answer)
  uint64_t served = 0;          // E9 answers with credentials
  uint64_t unavailable = 0;     // E9 answers 503 (no valid credentials)
  uint64_t waited = 0;          // E9 requests that had to wait for a fetch
  int64_t expiration_ms = 0;    // of the cached credentials (0 = none)
  int64_t last_success_ms = 0;
  int64_t next_fetch_ms = 0;  // scheduled refresh or retry (0 = none / in flight)
  uint32_t consecutive_failures = 0;
  std::string last_error;
};

class CredentialProvider final : public ipc::CredentialSource, public aws::CredentialsSource {
 public:
  // Loads the TLS material; Io/Invalid naming the file when it cannot.
  static Result<std::unique_ptr<CredentialProvider>> create(boost::asio::io_context& io,
                                                            ProviderOptions opts, Log log);
  ~CredentialProvider() override;

  void start();  // first fetch now
  void stop();   // cancels timers and the fetch; waiters get 503; idempotent

  // ipc::CredentialSource (E9).
  void credentials(const std::string& caller_arn,
                   std::function<void(ipc::HttpResponse)> done) override;
  // aws::CredentialsSource: the cached credentials while valid, else Busy naming the last error.
  Result<aws::Credentials> currentCredentials() override;

  const ProviderStats& stats() const { return stats_; }
  const ProviderOptions& options() const { return opts_; }

 private:
  CredentialProvider(boost::asio::io_context& io, ProviderOptions opts, Log log,
                     std::unique_ptr<aws::HttpClient> http);
  bool valid() const;
  void fetch();
  void onFetched(Result<aws::HttpResponse> r);
  void scheduleFetch(int64_t delay_ms);
  uint32_t backoffMs();
  void answerWaiters();
  ipc::HttpResponse unavailable(const std::string& why);

  struct Waiter {
    std::function<void(ipc::HttpResponse)> done;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };

  boost::asio::io_context& io_;
  ProviderOptions opts_;
  Log log_;
  std::unique_ptr<aws::HttpClient> http_;
  boost::asio::steady_timer timer_;
  std::optional<TemporaryCredentials> cache_;
  std::string e9_body_;  // containerCredentialsJson(*cache_), built once per fetch
  bool in_flight_ = false;
  bool stopped_ = false;
  std::map<uint64_t, Waiter> waiters_;
  uint64_t next_waiter_ = 1;
  uint64_t rng_ = 0x9E3779B97F4A7C15ull;
  ProviderStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// E9 answerer while token exchange is not configured (or failed to start): 503 with
// `explanation` (how to configure it); logs it once, at the first request.
class UnavailableCredentialSource final : public ipc::CredentialSource {
 public:
  UnavailableCredentialSource(std::string explanation, Log log)
      : explanation_(std::move(explanation)), log_(std::move(log)) {}
  void credentials(const std::string& caller_arn,
                   std::function<void(ipc::HttpResponse)> done) override;
  uint64_t refused() const { return refused_; }

 private:
  std::string explanation_;
  Log log_;
  bool logged_ = false;
  uint64_t refused_ = 0;
};

}  // namespace evg::tes
