// Core: the server certificate (check, renewal, imported switch), discovery answers and the
// device-certificate identity lookup. See core.h.
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <set>

#include "base/json.h"
#include "certs/certs.h"
#include "daemon/core.h"
#include "discovery/discovery.h"

namespace evg::daemon {

namespace asio = boost::asio;
using nlohmann::json;

std::vector<discovery::Connectivity> Core::connectivity(int mqtt_port) const {
  std::vector<discovery::Connectivity> out;
  const auto& d = cfg_.evergreen.discovery;
  if (!d.connectivity.empty()) {
    for (const auto& c : d.connectivity) {
      out.push_back({c.id, c.host_address, c.port != 0 ? c.port : mqtt_port, c.metadata});
    }
    return out;
  }
  for (const auto& a : discovery::detectHostAddresses()) out.push_back({a, a, mqtt_port, ""});
  return out;
}

Result<bool> Core::ensureServerCertificate(bool force) const {
  std::vector<std::string> dns, ips;
  for (const auto& c : connectivity(cfg_.core_thing.gg_mqtt_port)) {
    unsigned char buf[16];
    if (c.host_address == "localhost" || c.host_address == "127.0.0.1") continue;
    bool ip = inet_pton(AF_INET, c.host_address.c_str(), buf) == 1 ||
              inet_pton(AF_INET6, c.host_address.c_str(), buf) == 1;
    (ip ? ips : dns).push_back(c.host_address);
  }
  const auto& cc = cfg_.evergreen.certs;
  certs::CertOptions o;
  o.leaf_validity_days = cc.server_validity_days;
  o.renew_before_days = force ? cc.server_validity_days + 1 : cc.server_renew_before_days;
  std::string cert = paths_.certs_dir + "/" + std::string(certs::kServerCertFile);
  auto before = certs::fingerprintSha256OfPemFile(cert);
  EVG_RETURN_IF_ERROR(certs::ensureServerCert(paths_.certs_dir, dns, ips, o));
  auto after = certs::fingerprintSha256OfPemFile(cert);
  return !before || !after || *before != *after;
}

void Core::scheduleServerCertCheck() {
  cert_timer_.expires_after(std::chrono::seconds(cfg_.evergreen.certs.check_interval_s));
  cert_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    renewServerCertificate(false, [](Result<json>) {});
    scheduleServerCertCheck();
  });
}

void Core::renewServerCertificate(bool force, std::function<void(Result<json>)> done) {
  std::string served = tls_files_.cert_file;
  asio::post(pool_, [this, force, served, done = std::move(done)]() mutable {
    auto changed = ensureServerCertificate(force);
    // The imported v1 server certificate is served until it expires, then Evergreen's own.
    std::string own = paths_.certs_dir + "/" + std::string(certs::kServerCertFile);
    bool v1_expired = false;
    if (served != own) {
      auto v = certs::certificateValidity(served);
      v1_expired = !v || v->expired || importedServerCertSwitchDue();
    }
    asio::post(io_, [this, changed, v1_expired, own, done = std::move(done)]() mutable {
      if (!changed) {
        log_.error("server certificate renewal failed: " + changed.status().message());
        done(changed.status());
        return;
      }
      bool serving_own = tls_files_.cert_file == own;
      if ((*changed && serving_own) || v1_expired) {
        tls_files_.cert_file = own;
        tls_files_.key_file = paths_.certs_dir + "/" + std::string(certs::kServerKeyFile);
        Status s = broker_ ? broker_->reloadTls(tls_files_) : Status::ok();
        if (s && discovery_)
          s = discovery_->reloadCertificate(tls_files_.cert_file, tls_files_.key_file);
        if (!s) {
          log_.error("new server certificate not loaded: " + s.message());
          done(s);
          return;
        }
        log_.info(v1_expired ? "the imported v1 server certificate expired (or its switch date "
                               "passed): now serving Evergreen's own server certificate"
                             : "server certificate renewed; new connections get it, connected "
                               "devices stay connected");
      } else if (*changed && discovery_) {
        (void)discovery_->reloadCertificate(
            own, paths_.certs_dir + "/" + std::string(certs::kServerKeyFile));
      }
      auto fp = certs::fingerprintSha256OfPemFile(own);
      auto v = certs::certificateValidity(own);
      done(json{{"renewed", *changed},
                {"served", tls_files_.cert_file},
                {"fingerprint", fp ? *fp : ""},
                {"notAfter", v ? v->not_after : ""}});
    });
  });
}

bool Core::importedServerCertSwitchDue() const {
  const std::string& until = cfg_.evergreen.certs.imported_server_cert_until;
  if (until.empty()) return false;
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char today[16];
  std::strftime(today, sizeof today, "%Y-%m-%d", &tm);
  return std::string(today) >= until;
}

discovery::DiscoveryInfo Core::discoveryInfo() const {
  discovery::DiscoveryInfo info;
  const auto& d = cfg_.evergreen.discovery;
  info.group_id = d.group_id.empty() ? cfg_.core_thing.thing_name + "-group" : d.group_id;
  info.core_thing_arn = cfg_.core_thing.thing_arn;
  info.connectivity = connectivity(broker_ ? broker_->tlsPort() : cfg_.core_thing.gg_mqtt_port);
  if (auto pem = certs::pemOfCertFile(paths_.certs_dir + "/" + std::string(certs::kCaCertFile))) {
    info.ca_pems.push_back(*pem);
  }
  auto policy = policy_;
  info.in_group = [policy](std::string_view thing) {
    return policy && policy->group().findThingByName(thing) != nullptr;
  };
  return info;
}

std::optional<std::string> Core::identityForCertificate(std::string_view sha256_hex) {
  auto t = policy_->thingForFingerprint(sha256_hex);
  if (!t)
    conn_log_.warn("TLS client certificate " + std::string(sha256_hex) +
                   " is not in the group (or revoked): handshake refused");
  return t;
}

}  // namespace evg::daemon
