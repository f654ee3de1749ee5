#pragma once
// Core: the running Evergreen core on one io_context. Owns the embedded broker, the active
// GroupPolicy (routing table + device identities), the function host and the control channel,
// and wires them together:
//
//   device PUBLISH -> Broker -> Core::onPublish -> GroupPolicy::route -> targets:
//       thing       -> Broker::deliverToIdentity
//       function    -> FunctionHost::invokeFromSubscription     (issue 3)
//       cloud / GGShadowService / connector -> counted until their issues land
//   function publish (GGRouter) -> Core::onFunctionPublish -> same routing with the function as
//   source
//
// All methods run on the loop thread.

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/asio.h"
#include "base/log.h"
#include "base/status.h"
#include "broker/broker.h"
#include "config/config.h"
#include "daemon/control.h"
#include "daemon/policy.h"
#include "daemon/root.h"

namespace evg::daemon {

struct RouteCounters {
  uint64_t to_devices = 0;
  uint64_t to_functions = 0;
  uint64_t function_invoke_refused = 0;
  uint64_t pending_cloud = 0;      // Target=cloud: counted until the cloud connection lands
  uint64_t pending_shadow = 0;     // Target=GGShadowService: counted until the shadow service lands
  uint64_t pending_connector = 0;  // connectors are not implemented
  uint64_t unrouted = 0;           // no subscription matched: dropped
  uint64_t deployments = 0;
  uint64_t deployments_rejected = 0;
};

class Core final : public broker::BrokerHooks {
 public:
  Core(boost::asio::io_context& io, RootPaths paths, config::CoreConfig cfg, Logger& logger);
  ~Core() override;

  // Starts listeners (TLS on coreThing.ggMqttPort, optional plaintext on 127.0.0.1), the control
  // socket, and activates the group in DIR/deployment/group/group.json if there is one.
  Status start();
  // Graceful: stop accepting, close sessions, stop workers; then done().
  void stop(std::function<void()> done);
  // SIGHUP: re-read config.json; applies the log level, reports settings that need a restart.
  void reloadConfig();

  // Validates and activates a group (from the control channel). Persisted atomically first.
  Result<nlohmann::json> deploy(const nlohmann::json& group_json);
  nlohmann::json status() const;

  // broker::BrokerHooks
  std::optional<std::string> identityForCertificate(std::string_view sha256_hex) override;
  uint8_t authorizeConnect(const broker::ClientInfo&) override;
  bool authorizeSubscribe(const broker::ClientInfo&, std::string_view filter) override;
  void onPublish(const broker::ClientInfo&, const broker::Message&) override;
  bool mayReceiveRetained(const broker::ClientInfo& subscriber, std::string_view source_identity,
                          std::string_view topic) override;
  void onConnected(const broker::ClientInfo&) override;
  void onDisconnected(const broker::ClientInfo&, std::string_view reason) override;

 private:
  PolicyOptions policyOptions() const;
  Status activate(group::Group g);
  void route(const group::Endpoint& source, const broker::Message& msg);
  void handleControl(const nlohmann::json& req, ControlServer::Reply reply);

  boost::asio::io_context& io_;
  RootPaths paths_;
  config::CoreConfig cfg_;
  Logger& logger_;
  Log log_;
  Log conn_log_;
  std::unique_ptr<broker::Broker> broker_;
  std::unique_ptr<ControlServer> control_;
  std::shared_ptr<const GroupPolicy> policy_;
  RouteCounters counters_;
  bool stopping_ = false;
};

}  // namespace evg::daemon
