#pragma once
// GroupPolicy: everything the active group decides about client devices and message flow, as a
// pure value built at deploy time (no I/O, unit-testable). The core swaps the whole policy on a
// deploy, so a message is always routed by exactly one group version.
//
//   identity    TLS cert fingerprint -> thing (Devices/Cores[].CertificateFingerprintSha256),
//               minus revoked fingerprints (DIR/certs/revoked.txt)
//   connect     group mode: the identity must be a thing of the group; open mode: anyone
//   subscribe   group mode: some subscription targeting the thing could deliver on the filter;
//               open mode: any filter except one that can match only denied topics (like
//               mosquitto ACLs); denied topics are never delivered (isDenied) nor replayed
//   route       group mode: the subscription table; open mode: every matching client subscriber

#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "group/group.h"
#include "router/subscription_table.h"

namespace evg::daemon {

struct PolicyOptions {
  bool open_broker = false;
  // Open mode: topics matching these are never delivered; a SUBSCRIBE whose filter can match only
  // denied topics is refused (0x80), any other filter is granted.
  std::vector<std::string> deny_list;
  bool plaintext_requires_known_thing = true;
};

// True when every topic `filter` can match also matches `deny` (both valid MQTT filters).
bool filterCoveredBy(std::string_view filter, std::string_view deny);

class GroupPolicy {
 public:
  GroupPolicy(group::Group g, std::set<std::string> revoked, PolicyOptions opts);

  const group::Group& group() const { return group_; }
  bool openBroker() const { return opts_.open_broker; }

  std::optional<std::string> thingForFingerprint(std::string_view sha256_hex) const;
  // 0 = accept, else a CONNACK code (5 = not authorized).
  uint8_t authorizeConnect(std::string_view identity) const;
  bool authorizeSubscribe(std::string_view identity, std::string_view filter) const;
  // Open mode: `topic` matches a deny-list filter (never delivered, stored or replayed).
  bool isDenied(std::string_view topic) const;
  // Calls back once per distinct target of a message from `source` on `topic`.
  void route(const group::Endpoint& source, std::string_view topic,
             const std::function<void(const group::Endpoint&)>& fn) const;
  bool mayReceive(std::string_view source_identity, std::string_view subscriber_identity,
                  std::string_view topic) const;
  // Changes whenever a thing's right to stay connected changes (removed from the group, new or
  // revoked certificate); a deploy disconnects exactly the devices whose signature changed.
  // Subscription changes need no reconnect: every message is routed by the active table.
  std::string accessSignature(std::string_view thing) const;

 private:
  group::Group group_;
  std::set<std::string> revoked_;
  PolicyOptions opts_;
  router::SubscriptionTable table_;
  std::unordered_map<std::string, std::string> fingerprint_to_thing_;
};

}  // namespace evg::daemon
