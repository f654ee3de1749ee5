#include "daemon/cloud_shadow_link.h"

#include <algorithm>
#include <string_view>

namespace evg::daemon {

namespace {
// "$aws/things/<thing>/shadow/..." -> thing; empty for other filters.
std::string thingOfShadowFilter(std::string_view f) {
  constexpr std::string_view kPrefix = "$aws/things/";
  if (f.substr(0, kPrefix.size()) != kPrefix) return {};
  size_t end = f.find("/shadow/", kPrefix.size());
  if (end == std::string_view::npos) return {};
  return std::string(f.substr(kPrefix.size(), end - kPrefix.size()));
}
}  // namespace

CloudPort CloudPort::forClient(cloud::CloudClient& client) {
  CloudPort p;
  p.connected = [&client] { return client.connected(); };
  p.publish = [&client](const std::string& topic, std::shared_ptr<const std::string> payload) {
    client.publish(topic, std::move(payload));
  };
  p.set_subscriptions = [&client](std::vector<std::string> filters, bool persistent) {
    client.setSubscriptions(std::move(filters), persistent);
  };
  return p;
}

CloudShadowLink::CloudShadowLink(CloudPort port, CloudShadowLinkOptions opts)
    : port_(std::move(port)), opts_(opts) {}

bool CloudShadowLink::connected() const { return port_.connected && port_.connected(); }

Status CloudShadowLink::publish(const std::string& topic, const std::string& payload) {
  if (!port_.publish) return Status::retry("no cloud connection configured");
  port_.publish(topic, std::make_shared<const std::string>(payload));
  return Status::ok();
}

Status CloudShadowLink::subscribe(const std::string& filter) {
  if (filter.empty()) return Status::invalid("empty shadow filter");
  if (shadow_filters_.count(filter)) return Status::ok();  // already in the upstream set
  if (shadow_filters_.size() >= opts_.max_shadow_filters) {
    return Status::tooLarge("cloud shadow filters: limit max_shadow_filters (" +
                            std::to_string(opts_.max_shadow_filters) +
                            ") reached; not subscribing " + filter);
  }
  shadow_filters_.insert(filter);
  apply();
  return Status::ok();
}

void CloudShadowLink::setCloudFilters(std::vector<std::string> filters, bool persistent) {
  cloud_filters_ = std::move(filters);
  persistent_ = persistent;
  apply();
}

void CloudShadowLink::retainThings(const std::set<std::string>& things) {
  bool changed = false;
  for (auto it = shadow_filters_.begin(); it != shadow_filters_.end();) {
    if (!things.count(thingOfShadowFilter(*it))) {
      it = shadow_filters_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (changed) apply();
}

std::vector<std::string> CloudShadowLink::filters() const {
  std::vector<std::string> out = cloud_filters_;
  for (const auto& f : shadow_filters_) {
    if (std::find(cloud_filters_.begin(), cloud_filters_.end(), f) == cloud_filters_.end()) {
      out.push_back(f);
    }
  }
  return out;
}

void CloudShadowLink::apply() {
  ++applies_;
  if (port_.set_subscriptions) port_.set_subscriptions(filters(), persistent_);
}

}  // namespace evg::daemon
