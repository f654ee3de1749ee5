#include "tes/credential_provider.h"

#include <chrono>
#include <random>

#include "ipc/http_types.h"

namespace evg::tes {

namespace asio = boost::asio;

std::string_view providerStateName(ProviderState s) {
  switch (s) {
    case ProviderState::kStarting:
      return "starting";
    case ProviderState::kOk:
      return "ok";
    case ProviderState::kFailing:
      return "failing";
    case ProviderState::kStopped:
      return "stopped";
  }
  return "unknown";
}

Result<std::unique_ptr<CredentialProvider>> CredentialProvider::create(asio::io_context& io,
                                                                       ProviderOptions opts,
                                                                       Log log) {
  if (opts.tls.cert_path.empty() || opts.tls.key_path.empty()) {
    return Status::invalid(
        "token exchange needs the core's IoT certificate and key (crypto.principals."
        "IoTCertificate or coreThing.certPath/keyPath)");
  }
  aws::HttpClientOptions ho;
  ho.connect_timeout_ms = opts.request_timeout_ms;
  ho.request_timeout_ms = opts.request_timeout_ms;
  ho.max_attempts = 1;  // the provider's own backoff loop retries
  ho.max_idle_per_endpoint = 1;
  ho.max_response_bytes = 64 * 1024;
  auto http = aws::HttpClient::create(io, ho, opts.tls, log);
  if (!http) return http.status();
  if (!opts.now_ms) {
    opts.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  return std::unique_ptr<CredentialProvider>(
      new CredentialProvider(io, std::move(opts), std::move(log), std::move(http).value()));
}

CredentialProvider::CredentialProvider(asio::io_context& io, ProviderOptions opts, Log log,
                                       std::unique_ptr<aws::HttpClient> http)
    : io_(io), opts_(std::move(opts)), log_(std::move(log)), http_(std::move(http)), timer_(io) {
  rng_ ^= static_cast<uint64_t>(std::random_device{}()) << 1;
}

CredentialProvider::~CredentialProvider() {
  stop();
  *alive_ = false;
}

void CredentialProvider::start() {
  log_.info("token exchange: role alias " + opts_.role_alias + " at " + opts_.endpoint.url() +
            " for thing " + opts_.thing_name);
  fetch();
}

void CredentialProvider::stop() {
  if (stopped_) return;
  stopped_ = true;
  stats_.state = ProviderState::kStopped;
  timer_.cancel();
  http_->shutdown();
  in_flight_ = false;
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& [id, w] : waiters) {
    w.timer->cancel();
    w.done(ipc::errorResponse(Status::busy("the core is stopping")));
  }
}

bool CredentialProvider::valid() const { return cache_ && cache_->expiration_ms > opts_.now_ms(); }

void CredentialProvider::fetch() {
  if (in_flight_ || stopped_) return;
  in_flight_ = true;
  stats_.fetches++;
  stats_.next_fetch_ms = 0;
  aws::HttpRequest req;
  req.method = "GET";
  req.target = "/role-aliases/" + aws::uriEncode(opts_.role_alias) + "/credentials";
  req.headers.emplace_back("x-amzn-iot-thingname", opts_.thing_name);
  req.headers.emplace_back("Accept", "application/json");
  auto alive = alive_;
  http_->send(opts_.endpoint, std::move(req), [this, alive](Result<aws::HttpResponse> r) {
    if (!*alive) return;
    onFetched(std::move(r));
  });
}

void CredentialProvider::onFetched(Result<aws::HttpResponse> r) {
  in_flight_ = false;
  if (stopped_) return;
  Status err;
  if (!r) {
    err = r.status();
  } else if (r->status != 200) {
    std::string body = r->body.substr(0, 300);
    for (char& c : body) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    err = Status(r->status == 429 || r->status >= 500 ? Code::kRetry : Code::kForbidden,
                 "credentials provider answered HTTP " + std::to_string(r->status) + ": " + body);
  } else {
    auto c = parseProviderResponse(r->body);
    if (!c) {
      err = c.status();
    } else {
      int64_t now = opts_.now_ms();
      cache_ = std::move(c).value();
      e9_body_ = containerCredentialsJson(*cache_);
      stats_.state = ProviderState::kOk;
      stats_.expiration_ms = cache_->expiration_ms;
      stats_.last_success_ms = now;
      stats_.consecutive_failures = 0;
      stats_.last_error.clear();
      int64_t at = refreshAtMs(now, cache_->expiration_ms, opts_.refresh_margin_ms);
      log_.info("fetched credentials for role alias " + opts_.role_alias + ", valid until " +
                iso8601(cache_->expiration_ms) + ", next refresh in " +
                std::to_string((at - now) / 1000) + " s");
      scheduleFetch(at - now);
      answerWaiters();
      return;
    }
  }
  stats_.fetch_failures++;
  stats_.consecutive_failures++;
  stats_.last_error = err.message();
  stats_.state = ProviderState::kFailing;
  uint32_t delay = backoffMs();
  std::string keep =
      valid() ? "; still serving credentials valid until " + iso8601(cache_->expiration_ms)
              : "; functions get errors until a fetch succeeds";
  log_.error("fetching credentials failed (" + std::to_string(stats_.consecutive_failures) +
             " in a row): " + err.message() + "; retrying in " + std::to_string(delay) + " ms" +
             keep);
  scheduleFetch(delay);
  answerWaiters();
}

uint32_t CredentialProvider::backoffMs() {
  uint64_t cap = opts_.retry_initial_ms;
  for (uint32_t i = 1; i < stats_.consecutive_failures && cap < opts_.retry_max_ms; ++i) cap *= 2;
  cap = std::min<uint64_t>(cap, opts_.retry_max_ms);
  // Equal jitter: [cap/2, cap].
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return static_cast<uint32_t>(cap / 2 + rng_ % (cap / 2 + 1));
}

void CredentialProvider::scheduleFetch(int64_t delay_ms) {
  if (delay_ms < 0) delay_ms = 0;
  stats_.next_fetch_ms = opts_.now_ms() + delay_ms;
  timer_.expires_after(std::chrono::milliseconds(delay_ms));
  auto alive = alive_;
  timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    fetch();
  });
}

ipc::HttpResponse CredentialProvider::unavailable(const std::string& why) {
  stats_.unavailable++;
  return ipc::errorResponse(
      Status::busy("AWS credentials are not available from the core: " + why));
}

void CredentialProvider::answerWaiters() {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  bool ok = valid();
  for (auto& [id, w] : waiters) {
    w.timer->cancel();
    if (ok) {
      stats_.served++;
      ipc::HttpResponse r;
      r.headers.emplace_back("Content-Type", "application/json");
      r.body = e9_body_;
      w.done(std::move(r));
    } else {
      w.done(unavailable(stats_.last_error));
    }
  }
}

void CredentialProvider::credentials(const std::string& /*caller_arn*/,
                                     std::function<void(ipc::HttpResponse)> done) {
  if (valid()) {
    stats_.served++;
    ipc::HttpResponse r;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = e9_body_;
    return done(std::move(r));
  }
  if (stopped_) return done(unavailable("the core is stopping"));
  std::string why =
      stats_.last_error.empty() ? "the first fetch has not completed" : stats_.last_error;
  // Wait only when an answer can come within serve_wait_ms: a fetch in flight or due soon.
  int64_t due_in = in_flight_ ? 0 : stats_.next_fetch_ms - opts_.now_ms();
  bool soon = in_flight_ || (stats_.next_fetch_ms != 0 && due_in <= opts_.serve_wait_ms);
  if (opts_.serve_wait_ms == 0 || !soon || waiters_.size() >= opts_.max_waiting) {
    return done(unavailable(why));
  }
  stats_.waited++;
  uint64_t id = next_waiter_++;
  Waiter w;
  w.done = std::move(done);
  w.timer = std::make_unique<asio::steady_timer>(io_);
  w.timer->expires_after(std::chrono::milliseconds(opts_.serve_wait_ms));
  auto alive = alive_;
  w.timer->async_wait([this, alive, id](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return;
    auto d = std::move(it->second.done);
    waiters_.erase(it);
    d(unavailable(stats_.last_error.empty() ? "no answer from the credentials provider within " +
                                                  std::to_string(opts_.serve_wait_ms) + " ms"
                                            : stats_.last_error));
  });
  waiters_.emplace(id, std::move(w));
}

Result<aws::Credentials> CredentialProvider::currentCredentials() {
  if (valid()) return cache_->creds;
  return Status::busy(
      "AWS credentials are not available: " +
      (stats_.last_error.empty() ? std::string("no fetch has succeeded yet") : stats_.last_error));
}

void UnavailableCredentialSource::credentials(const std::string& caller_arn,
                                              std::function<void(ipc::HttpResponse)> done) {
  refused_++;
  if (!logged_) {
    logged_ = true;
    log_.warn(caller_arn + " asked for AWS credentials: " + explanation_);
  }
  done(ipc::errorResponse(Status::busy(explanation_)));
}

}  // namespace evg::tes
