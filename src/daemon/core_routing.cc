// Core: the broker hooks (connect/subscribe authorization, publish, connect/disconnect) and the
// router that forwards messages by the group's subscription table. See core.h.
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

uint8_t Core::authorizeConnect(const broker::ClientInfo& c) {
  // v1 rule (group mode): a device connects with its own thing name as client id, so no device
  // can squat another's client id (issue 11 item 5). Open mode: the newest connection wins.
  if (!policy_->openBroker() && c.client_id != c.identity) {
    conn_log_.warn("CONNECT refused (code 2, identifier rejected) for client '" + c.client_id +
                   "' from " + c.peer + ": the certificate belongs to thing '" + c.identity +
                   "', and a device must use its thing name as client id");
    return 2;
  }
  uint8_t rc = policy_->authorizeConnect(c.identity);
  if (rc != 0) {
    conn_log_.warn("CONNECT refused (code " + std::to_string(rc) + ") for client '" + c.client_id +
                   "' identity '" + c.identity + "' from " + c.peer);
  }
  return rc;
}

bool Core::authorizeSubscribe(const broker::ClientInfo& c, std::string_view filter) {
  bool ok = policy_->authorizeSubscribe(c.identity, filter);
  if (!ok) {
    conn_log_.info("SUBSCRIBE '" + std::string(filter) + "' refused for '" + c.identity +
                   (policy_->openBroker() ? "': the filter matches only denied topics (denyList)"
                                          : "': no subscription in the group delivers there"));
  }
  return ok;
}

void Core::onPublish(const broker::ClientInfo& c, broker::Message&& msg) {
  if (policy_->openBroker()) {
    // A denied topic is delivered to no one and not retained (issue 10 item 4: subscriptions
    // such as '#' are granted, so the deny list is enforced here, per message).
    if (policy_->isDenied(msg.topic)) {
      ++counters_.denied;
      return;
    }
    broker_->publish(std::move(msg), c.identity);
    return;
  }
  // Retained messages are kept by the broker and replayed only where the table allows the flow
  // (mayReceiveRetained); live delivery goes by the table.
  if (msg.retain) broker_->retain(msg, c.identity);
  route(group::Endpoint::thing(c.identity), msg);
}

void Core::route(const group::Endpoint& source, const broker::Message& msg) {
  bool any = false;
  bool to_shadow = false;
  const auto src = static_cast<size_t>(source.kind);
  ++counters_.in_by_source[src];
  policy_->route(source, msg.topic, [&](const group::Endpoint& t) {
    any = true;
    ++counters_.out_by_source_target[src][static_cast<size_t>(t.kind)];
    switch (t.kind) {
      case group::Endpoint::Kind::kThing:
        if (policy_->isDenied(msg.topic)) {
          ++counters_.denied;
          break;
        }
        ++counters_.to_devices;
        broker_->deliverToIdentity(t.id, msg);
        break;
      case group::Endpoint::Kind::kFunction:
        if (host_ && host_->invokeFromSubscription(t.id, msg.topic, msg.payload).isOk()) {
          ++counters_.to_functions;
        } else {
          ++counters_.function_invoke_refused;
        }
        break;
      case group::Endpoint::Kind::kCloud:
        if (cloud_) {
          cloud_->publish(msg.topic,
                          msg.payload ? msg.payload : std::make_shared<const std::string>());
          ++counters_.to_cloud;
        } else {
          ++counters_.pending_cloud;
        }
        break;
      case group::Endpoint::Kind::kShadow:
        to_shadow = true;  // handled once, after the table walk
        break;
      case group::Endpoint::Kind::kConnector:
        ++counters_.pending_connector;
        if (connector_drops_[t.id]++ == 0) {
          log_.warn("connector " + t.id + " is not supported: message from " + source.toString() +
                    " on '" + msg.topic +
                    "' dropped (first drop for this connector; the next ones are only counted, "
                    "see `evergreen status` connectors)");
        }
        break;
    }
  });
  if (to_shadow) {
    // $aws/things/<thing>/shadow/{get,update,delete} -> the local shadow service, whose answers
    // (.../accepted, /rejected, /update/delta, /update/documents) route back with source
    // GGShadowService. Other topics routed to GGShadowService are counted and dropped.
    if (shadows_ && shadows_->handleMqtt(msg.topic, msg.payload ? *msg.payload : std::string())) {
      ++counters_.to_shadow;
    } else {
      ++counters_.pending_shadow;
    }
  }
  if (!any) {
    ++counters_.unrouted;
    if (log_.enabled(LogLevel::kDebug)) {
      log_.debug("no subscription for " + source.toString() + " on '" + msg.topic + "': dropped");
    }
  }
}

Status Core::onFunctionPublish(const std::string& source_arn, const std::string& topic,
                               std::shared_ptr<const std::string> payload,
                               std::string_view queue_full_policy) {
  auto source = group::Endpoint::function(source_arn);
  if (queue_full_policy == "AllOrError") {
    // All targets or none: refuse up front if any function target's queue is full.
    bool full = false;
    policy_->route(source, topic, [&](const group::Endpoint& t) {
      if (t.kind == group::Endpoint::Kind::kFunction && host_ && host_->queueSpace(t.id) == 0) {
        full = true;
      }
    });
    if (full) {
      ++counters_.publish_refused_all_or_error;
      return Status::retry("a target's work queue is full (queueFullPolicy AllOrError): " +
                           std::string(topic) + " not delivered to any target");
    }
  }
  broker::Message msg{std::string(topic), std::move(payload), 0, false};
  route(source, msg);
  return Status::ok();
}

void Core::onCloudMessage(const std::string& topic, std::shared_ptr<const std::string> payload) {
  // Shadow topics of synced things belong to the sync; everything else is routed from `cloud`.
  if (shadow_sync_ && shadow_sync_->onCloudMessage(topic, payload ? *payload : std::string())) {
    return;
  }
  if (jobs_ && jobs_->onCloudMessage(topic, payload ? *payload : std::string())) return;
  ++counters_.from_cloud;
  broker::Message msg{topic, std::move(payload), 0, false};
  route(group::Endpoint::cloud(), msg);
}

void Core::onCloudConnected() {
  if (shadow_sync_) shadow_sync_->onCloudConnected();
  if (jobs_) jobs_->onCloudConnected();
}

bool Core::mayReceiveRetained(const broker::ClientInfo& subscriber,
                              std::string_view source_identity, std::string_view topic) {
  if (policy_->openBroker()) return !policy_->isDenied(topic);
  return policy_->mayReceive(source_identity, subscriber.identity, topic);
}

void Core::onConnected(const broker::ClientInfo& c) {
  conn_log_.info("client '" + c.client_id + "' (" + c.identity + ") connected from " + c.peer +
                 (c.tls ? " over TLS" : " over plaintext"));
}

void Core::onDisconnected(const broker::ClientInfo& c, std::string_view reason) {
  conn_log_.info("client '" + c.client_id + "' disconnected: " + std::string(reason));
}

// ---------------------------------------------------------------- shadows and secrets

}  // namespace evg::daemon
