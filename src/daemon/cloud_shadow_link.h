#pragma once
// CloudShadowLink: the ShadowCloudLink (src/shadow/shadow_sync.h) over the core's cloud
// connection (src/cloud CloudClient).
//
//   connected()         -> CloudClient::connected()
//   publish(t, p)       -> CloudClient::publish (spooled, QoS 1; never refused)
//   subscribe(filter)   -> added to the shadow filter set; the union with the group's
//                          Source=cloud subjects is handed to CloudClient::setSubscriptions in one
//                          call (setSubscriptions replaces the whole upstream set)
//   setCloudFilters()   -> the Source=cloud subjects changed (deploy): union recomputed
//   retainThings(set)   -> shadow filters of things no longer synced are dropped
//
// The link talks to the client through CloudPort (three callbacks) so the union logic is unit-
// tested without a connection; forClient() binds it to a CloudClient. Loop thread only.

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "cloud/cloud_client.h"
#include "shadow/shadow_sync.h"

namespace evg::daemon {

struct CloudPort {
  std::function<bool()> connected;
  std::function<void(const std::string& topic, std::shared_ptr<const std::string> payload)> publish;
  std::function<void(std::vector<std::string> filters, bool persistent)> set_subscriptions;

  static CloudPort forClient(cloud::CloudClient& client);
};

struct CloudShadowLinkOptions {
  // Upper bound on the shadow filters (5 per synced thing). Beyond it subscribe() is refused
  // with an error naming the limit (the thing is then not synced from the cloud).
  size_t max_shadow_filters = 5 * 1000;
};

class CloudShadowLink final : public shadow::ShadowCloudLink {
 public:
  explicit CloudShadowLink(CloudPort port, CloudShadowLinkOptions opts = {});

  // shadow::ShadowCloudLink
  bool connected() const override;
  Status publish(const std::string& topic, const std::string& payload) override;
  Status subscribe(const std::string& filter) override;

  // The group's Source=cloud subjects and subscription quality (deploy, start).
  void setCloudFilters(std::vector<std::string> filters, bool persistent);
  // Drops the shadow filters ($aws/things/<thing>/shadow/...) of things not in `things`.
  void retainThings(const std::set<std::string>& things);

  // The union handed to the client: Source=cloud subjects first (in their order), then the
  // shadow filters not already among them.
  std::vector<std::string> filters() const;
  const std::set<std::string>& shadowFilters() const { return shadow_filters_; }
  uint64_t applies() const { return applies_; }

 private:
  void apply();

  CloudPort port_;
  CloudShadowLinkOptions opts_;
  std::vector<std::string> cloud_filters_;
  bool persistent_ = false;
  std::set<std::string> shadow_filters_;
  uint64_t applies_ = 0;  // setSubscriptions calls
};

}  // namespace evg::daemon
