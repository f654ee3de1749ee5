// Core's token exchange wiring: evergreen.tes -> tes::CredentialProvider (mutual TLS with the
// core's IoT certificate to the AWS IoT credentials provider) answering E9 on the IPC port, or,
// when not configured / not startable, an answerer that explains how to configure it.
#include "daemon/core.h"
#include "tes/credentials.h"

namespace evg::daemon {

using nlohmann::json;

namespace {
constexpr const char* kHowTo =
    "set evergreen.tes.credentialsEndpoint and evergreen.tes.roleAlias in config.json (the "
    "one-time AWS IoT setup — role, role alias, iot:AssumeRoleWithCertificate policy — is in "
    "src/config/README.md, \"Token exchange\")";
}  // namespace

void Core::startTes() {
  const auto& t = cfg_.evergreen.tes;
  Log tlog(&logger_, "GGTES");
  auto off = [&](std::string reason) {
    tes_off_reason_ = reason;
    tes_off_ = std::make_unique<tes::UnavailableCredentialSource>(std::move(reason), tlog);
    host_->setCredentialSource(tes_off_.get());
  };
  if (t.credentials_endpoint.empty()) {
    off(std::string("token exchange is not configured on this core: ") + kHowTo);
    return;
  }
  auto ep = aws::Endpoint::parse(t.credentials_endpoint);
  if (ep && !ep->tls) ep = Status::invalid("the credentials provider needs https");
  if (!ep) {
    tlog.error("evergreen.tes.credentialsEndpoint: " + ep.status().message());
    off("token exchange is misconfigured: evergreen.tes.credentialsEndpoint: " +
        ep.status().message());
    return;
  }
  tes::ProviderOptions o;
  o.endpoint = std::move(ep).value();
  o.role_alias = t.role_alias;
  o.thing_name = cfg_.core_thing.thing_name;
  o.tls.ca_path = cfg_.crypto.ca_path;
  o.tls.cert_path = cfg_.crypto.core_cert_path;
  o.tls.key_path = cfg_.crypto.core_key_path;
  o.refresh_margin_ms = static_cast<int64_t>(t.refresh_margin_s) * 1000;
  o.request_timeout_ms = static_cast<uint32_t>(t.request_timeout_ms);
  o.retry_initial_ms = static_cast<uint32_t>(t.retry_initial_ms);
  o.retry_max_ms = static_cast<uint32_t>(t.retry_max_ms);
  o.serve_wait_ms = static_cast<uint32_t>(t.serve_wait_ms);
  o.max_waiting = static_cast<size_t>(t.max_waiting);
  auto p = tes::CredentialProvider::create(io_, std::move(o), tlog);
  if (!p) {
    tlog.error("token exchange could not start: " + p.status().message());
    off("token exchange could not start on this core: " + p.status().message());
    return;
  }
  tes_ = std::move(p).value();
  host_->setCredentialSource(tes_.get());
  tes_->start();
}

json Core::tesStatus() const {
  if (!tes_) {
    return {{"enabled", false},
            {"state", cfg_.evergreen.tes.credentials_endpoint.empty() ? "unconfigured" : "error"},
            {"refused", tes_off_ ? tes_off_->refused() : 0},
            {"lastError", tes_off_reason_}};
  }
  const auto& s = tes_->stats();
  const auto& o = tes_->options();
  return {{"enabled", true},
          {"state", std::string(tes::providerStateName(s.state))},
          {"endpoint", o.endpoint.url()},
          {"roleAlias", o.role_alias},
          {"thingName", o.thing_name},
          {"expiration", s.expiration_ms != 0 ? tes::iso8601(s.expiration_ms) : ""},
          {"nextFetch", s.next_fetch_ms != 0 ? tes::iso8601(s.next_fetch_ms) : ""},
          {"fetches", s.fetches},
          {"fetchFailures", s.fetch_failures},
          {"consecutiveFailures", s.consecutive_failures},
          {"served", s.served},
          {"unavailable", s.unavailable},
          {"waited", s.waited},
          {"lastError", s.last_error}};
}

}  // namespace evg::daemon
