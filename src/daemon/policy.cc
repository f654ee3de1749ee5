#include "daemon/policy.h"

#include <algorithm>

#include "mqtt/topic.h"

namespace evg::daemon {

bool filterCoveredBy(std::string_view filter, std::string_view deny) {
  const auto f = mqtt::splitTopicLevels(filter);
  const auto d = mqtt::splitTopicLevels(deny);
  for (size_t i = 0;; ++i) {
    if (i < d.size() && d[i] == "#") {
      // '#' also matches the parent level, but not '$' topics at the first level.
      return !(i == 0 && !f.empty() && !f[0].empty() && f[0][0] == '$');
    }
    if (i == f.size() || i == d.size()) return i == f.size() && i == d.size();
    if (f[i] == "#") return false;  // matches deeper topics (and the parent) d does not
    if (d[i] == "+") {
      if (i == 0 && !f[0].empty() && f[0][0] == '$') return false;
      continue;
    }
    if (f[i] != d[i]) return false;  // '+' in f, or another literal
  }
}

GroupPolicy::GroupPolicy(group::Group g, std::set<std::string> revoked, PolicyOptions opts)
    : group_(std::move(g)),
      revoked_(std::move(revoked)),
      opts_(std::move(opts)),
      table_(router::SubscriptionTable::fromGroup(group_)) {
  for (const auto* list : {&group_.devices, &group_.cores}) {
    for (const auto& t : *list) {
      if (!t.cert_fingerprint_sha256.empty()) {
        fingerprint_to_thing_[t.cert_fingerprint_sha256] = t.thing_name;
      }
    }
  }
}

std::optional<std::string> GroupPolicy::thingForFingerprint(std::string_view sha256_hex) const {
  std::string fp(sha256_hex);
  if (revoked_.count(fp) != 0) return std::nullopt;
  auto it = fingerprint_to_thing_.find(fp);
  if (it == fingerprint_to_thing_.end()) return std::nullopt;
  return it->second;
}

uint8_t GroupPolicy::authorizeConnect(std::string_view identity) const {
  if (opts_.open_broker) return 0;
  if (identity.empty()) return 5;
  return group_.findThingByName(identity) != nullptr ? 0 : 5;
}

bool GroupPolicy::authorizeSubscribe(std::string_view identity, std::string_view filter) const {
  if (opts_.open_broker) {
    for (const auto& d : opts_.deny_list) {
      if (filterCoveredBy(filter, d)) return false;
    }
    return true;
  }
  return table_.couldDeliverTo(group::Endpoint::thing(std::string(identity)), filter);
}

bool GroupPolicy::isDenied(std::string_view topic) const {
  if (!opts_.open_broker) return false;
  for (const auto& d : opts_.deny_list) {
    if (mqtt::topicMatches(d, topic)) return true;
  }
  return false;
}

void GroupPolicy::route(const group::Endpoint& source, std::string_view topic,
                        const std::function<void(const group::Endpoint&)>& fn) const {
  table_.match(source, topic,
               [&](const group::Endpoint& target, const std::string& /*id*/) { fn(target); });
}

bool GroupPolicy::mayReceive(std::string_view source_identity, std::string_view subscriber_identity,
                             std::string_view topic) const {
  if (opts_.open_broker) return true;
  bool ok = false;
  table_.match(
      group::Endpoint::thing(std::string(source_identity)), topic,
      [&](const group::Endpoint& target, const std::string&) {
        if (target.kind == group::Endpoint::Kind::kThing && target.id == subscriber_identity) {
          ok = true;
        }
      });
  return ok;
}

std::string GroupPolicy::accessSignature(std::string_view thing) const {
  // Routing and delivery are decided per message with the active table, so a subscription change
  // needs no reconnect; membership and the certificate do.
  const group::Thing* t = group_.findThingByName(thing);
  if (t == nullptr) return "absent";
  if (revoked_.count(t->cert_fingerprint_sha256) != 0) return "revoked";
  return "fp=" + t->cert_fingerprint_sha256;
}

}  // namespace evg::daemon
