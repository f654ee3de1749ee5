#pragma once
// Core: the running Evergreen core on one io_context. Owns the embedded broker, the active
// GroupPolicy (routing table + device identities), the function host and the control channel,
// and wires them together:
//
//   device PUBLISH -> Broker -> Core::onPublish -> GroupPolicy::route -> targets:
//       thing       -> Broker::deliverToIdentity
//       function    -> FunctionHost::invokeFromSubscription     (issue 3)
//       cloud       -> cloud::CloudClient::publish (durable spool, QoS 1, pipelined)  (issue 5)
//       GGShadowService / connector -> counted until their issues land
//   cloud PUBLISH (Source=cloud subscriptions, subscribed upstream) -> Core::onCloudMessage ->
//   same routing with `cloud` as source
//   function publish (GGRouter) -> Core::onFunctionPublish -> same routing with the function as
//   source
//
// All methods run on the loop thread.

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/asio.h"
#include "base/log.h"
#include "base/status.h"
#include "broker/broker.h"
#include "cloud/cloud_client.h"
#include "config/config.h"
#include "daemon/cloud_shadow_link.h"
#include "daemon/control.h"
#include "daemon/core_jobs.h"
#include "daemon/deploy_history.h"
#include "daemon/policy.h"
#include "daemon/root.h"
#include "discovery/discovery.h"
#include "functions/function_store.h"
#include "ipc/system_services.h"
#include "metrics/http_server.h"
#include "secrets/secret_service.h"
#include "secrets/secret_store.h"
#include "shadow/shadow_service.h"
#include "shadow/shadow_store.h"
#include "shadow/shadow_sync.h"
#include "streammgr/export/export_manager.h"
#include "streammgr/server.h"
#include "supervisor/function_host.h"
#include "supervisor/runtime_command.h"
#include "tes/credential_provider.h"

namespace evg::daemon {

struct RouteCounters {
  uint64_t to_devices = 0;
  uint64_t to_functions = 0;
  uint64_t function_invoke_refused = 0;
  uint64_t to_cloud = 0;           // Target=cloud: queued in the cloud spool
  uint64_t pending_cloud = 0;      // Target=cloud while evergreen.cloud.enabled is false: dropped
  uint64_t from_cloud = 0;         // messages received from the cloud and routed
  uint64_t to_shadow = 0;          // MQTT shadow requests handled by the local shadow service
  uint64_t pending_shadow = 0;     // Target=GGShadowService: counted until the shadow service lands
  uint64_t pending_connector = 0;  // connectors are not implemented
  uint64_t unrouted = 0;           // no subscription matched: dropped
  uint64_t denied = 0;             // open mode: topic on the deny list, delivered to no client
  uint64_t publish_refused_all_or_error = 0;  // AllOrError publishes refused (a queue was full)
  uint64_t deployments = 0;
  uint64_t deployments_rejected = 0;
  // Messages entering the router by source kind, and deliveries by source x target kind
  // (indexed by group::Endpoint::Kind: thing, function, cloud, shadow, connector).
  std::array<uint64_t, 5> in_by_source{};
  std::array<std::array<uint64_t, 5>, 5> out_by_source_target{};
};

class Core final : public broker::BrokerHooks,
                   public lambda::HostHooks,
                   public ipc::SystemServices,
                   public cloud::CloudHooks {
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

  // Validates, resolves (function store, on the pool) and activates a group, then persists it
  // atomically; `done` gets the result on the loop. An error leaves the active group untouched.
  void deploy(nlohmann::json group_json, std::function<void(Result<nlohmann::json>)> done);
  // Where a deployment comes from (recorded in the history, core_deploy.cc). `expected_functions`
  // (rollback): the resolved version ARNs must be exactly these, else the deployment is rejected.
  struct DeployMeta {
    std::string source = "deploy";  // deploy | rollback | import | job
    std::optional<int64_t> rollback_of;
    std::optional<std::vector<std::string>> expected_functions;
    std::string label;  // what a refused concurrent deployment is told ("job J1 (fleet-a)")
    std::string note;   // history message of a successful deployment
  };
  // Deployments are serialised: while one is in progress another is refused (Busy, naming it).
  void deploy(nlohmann::json group_json, DeployMeta meta,
              std::function<void(Result<nlohmann::json>)> done);
  // Re-activates deployment `id`, or the most recent successful one whose group differs from the
  // active group, through deploy() (validated and resolved again).
  void rollback(std::optional<int64_t> id, std::function<void(Result<nlohmann::json>)> done);
  // `evergreen reset`: empty group active (functions stopped), group.json removed, shadows
  // cleared; config, certificates, function store, secrets and history kept (src/daemon/README).
  void reset(std::function<void(Result<nlohmann::json>)> done);
  nlohmann::json status() const;
  // GET /metrics (Prometheus text) and /health/{live,ready,functions} (core_metrics.cc).
  metrics::HttpResponse serveHttp(const metrics::HttpRequest& req) const;
  std::string prometheusText() const;
  bool ready() const { return started_ && !stopping_; }
  // The metrics port actually bound (0 = off).
  uint16_t metricsPort() const { return metrics_ ? metrics_->port() : 0; }
  // Every check of a deployment (schema, GGCloudSpooler settings, functions resolved in this
  // root's store for the core's account, runtimes and interpreters, code directories) without
  // activating anything: what `evergreen deploy` runs before staging a group for a core that is
  // not running. Returns the deployment's warnings (e.g. connectors not supported).
  Result<std::vector<std::string>> validateGroup(const nlohmann::json& group_json) const;

  // broker::BrokerHooks
  std::optional<std::string> identityForCertificate(std::string_view sha256_hex) override;
  // Addresses devices use to reach the MQTT listener: evergreen.discovery.connectivity, or the
  // host's detected addresses.
  std::vector<discovery::Connectivity> connectivity(int mqtt_port) const;
  discovery::DiscoveryInfo discoveryInfo() const;
  // Re-issues Evergreen's server certificate when it nears expiry, its names differ from the
  // connectivity addresses, or `force`. Blocking (key generation): call on pool_. True = changed.
  Result<bool> ensureServerCertificate(bool force) const;
  // evergreen.certs.importedServerCertUntil has been reached (UTC date).
  bool importedServerCertSwitchDue() const;
  // Periodic check (evergreen.certs.checkIntervalSeconds) and the control op renew-server-cert:
  // renew on the pool, then swap the TLS context on the loop (connected devices stay connected).
  void scheduleServerCertCheck();
  void renewServerCertificate(bool force, std::function<void(Result<nlohmann::json>)> done);
  uint8_t authorizeConnect(const broker::ClientInfo&) override;
  bool authorizeSubscribe(const broker::ClientInfo&, std::string_view filter) override;
  void onPublish(const broker::ClientInfo&, broker::Message&& msg) override;
  bool mayReceiveRetained(const broker::ClientInfo& subscriber, std::string_view source_identity,
                          std::string_view topic) override;
  void onConnected(const broker::ClientInfo&) override;
  void onDisconnected(const broker::ClientInfo&, std::string_view reason) override;

  // lambda::HostHooks
  // ipc::SystemServices: GGShadowService and GGSecretManager:1 over the SDK (src/shadow,
  // src/secrets). Both answer bodies only (the IPC layer adds the empty function error).
  std::string shadowInvoke(const std::string& caller_arn, const std::string& subject,
                           const std::string& body) override;
  std::string secretInvoke(const std::string& caller_arn, const std::string& body) override;
  // The local shadow service (nullptr before start()); the cloud sync attaches to it.
  shadow::ShadowService* shadowService() { return shadows_.get(); }

  Status onFunctionPublish(const std::string& source_arn, const std::string& topic,
                           std::shared_ptr<const std::string> payload,
                           std::string_view queue_full_policy) override;

  // cloud::CloudHooks
  void onCloudMessage(const std::string& topic,
                      std::shared_ptr<const std::string> payload) override;
  // -> ShadowSync::onCloudConnected (subscribe synced things' shadow topics, full sync).
  void onCloudConnected() override;

 private:
  friend class JobAgent;  // core_jobs.cc: fleet deployments drive deploy/rollback/reset
  // A job in flight refuses local deploy/rollback/reset (reply sent; true) naming the job.
  bool refusedDuringJob(const std::string& op, ControlServer::Reply& reply);
  PolicyOptions policyOptions() const;
  struct Prepared {
    group::Group group;
    std::vector<functions::FunctionSpec> specs;
    std::vector<std::string> function_versions;  // resolved version ARNs (history)
    std::vector<std::string> warnings;           // logged at WARN and returned in the deploy output
  };
  // core_deploy.cc: the history record of a prepared group (hash of the canonical JSON).
  static DeploymentRecord describe(const Prepared& p, const std::string& source,
                                   nlohmann::json* canonical);
  // Records on the pool, then calls `then` on the loop (a history error is logged, not fatal).
  void recordDeployment(DeploymentRecord r, std::optional<nlohmann::json> group,
                        std::function<void(std::optional<DeploymentRecord>)> then);
  // Start: records the activation of DIR/deployment/group/group.json unless the history's last
  // record already says the same (so restarts do not fill the history).
  std::string pruneFunctionVersions();  // on the pool (core_deploy.cc)
  void recordStartActivation(DeploymentRecord r, std::optional<nlohmann::json> group);
  // Control ops rollback / reset; false when `op` is not one of them.
  bool handleDeploymentControl(const std::string& op, const nlohmann::json& req,
                               ControlServer::Reply& reply);
  // The runtimes' locations and interpreters (config.json evergreen.runtime.interpreters).
  supervisor::RuntimePaths runtimePaths() const;
  // Blocking half of a deployment (parse, validate, resolve functions): runs on pool_.
  Result<Prepared> prepare(const nlohmann::json& group_json) const;
  // Loop half: deploy functions (validated all-or-nothing by the host), swap the policy.
  Status activate(Prepared p);
  // Makes `next` the active policy and disconnects the clients whose access it changed.
  void swapPolicy(std::shared_ptr<const GroupPolicy> next, bool deny_list_changed);
  void route(const group::Endpoint& source, const broker::Message& msg);
  void handleControl(const nlohmann::json& req, ControlServer::Reply reply);
  // Cloud options from config.json's evergreen.cloud block, overridden by the group's
  // GGCloudSpooler function entry (v1 env vars). Invalid env values are an error naming them.
  Result<cloud::CloudOptions> cloudOptions(const group::Group& g) const;
  Status startCloud();
  // Deploy: resubscribe the Source=cloud filters (with the shadow sync's filters), apply the
  // spool size, set the synced things (Cores/Devices with SyncShadow: true).
  void applyCloudGroup(const group::Group& g);

  boost::asio::io_context& io_;
  RootPaths paths_;
  config::CoreConfig cfg_;
  Logger& logger_;
  Log log_;
  Log conn_log_;
  std::unique_ptr<broker::Broker> broker_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<discovery::DiscoveryServer> discovery_;  // null unless evergreen.discovery.port
  broker::TlsFiles tls_files_;                             // what the MQTT TLS listener serves
  boost::asio::steady_timer cert_timer_{io_};
  std::unique_ptr<functions::FunctionStore> store_;
  // Shadow and secret services (src/shadow, src/secrets): declared before host_ so they outlive
  // the IPC server that calls them. Opened by startServices().
  Status startServices();
  std::unique_ptr<shadow::SqliteShadowStore> shadow_store_;
  std::unique_ptr<shadow::ShadowService> shadows_;
  std::unique_ptr<secrets::SecretStore> secret_store_;
  std::unique_ptr<secrets::SecretService> secrets_;
  // Token exchange (src/tes, core_tes.cc): the credential provider when evergreen.tes is
  // configured, else an E9 answerer explaining how to configure it. Declared before host_ so they
  // outlive the IPC server that calls them.
  void startTes();
  nlohmann::json tesStatus() const;
  std::unique_ptr<tes::CredentialProvider> tes_;
  std::unique_ptr<tes::UnavailableCredentialSource> tes_off_;
  std::string tes_off_reason_;
  std::unique_ptr<lambda::FunctionHost> host_;
  // Stream manager (core_streams.cc): null unless the group holds GGStreamManager. Declared after
  // host_ so it is destroyed first (its token check calls host_).
  Result<std::optional<streammgr::StreamManagerOptions>> streamManagerOptions(
      const group::Group& g) const;
  void applyStreamManager(const group::Group& g);
  nlohmann::json streamManagerStatus() const;
  // Its exporters (src/streammgr/export): declared before stream_ so they outlive the store that
  // calls them. AWS calls are signed with the token exchange's credentials (tes_).
  void startExports(streammgr::StreamManager& sm, const streammgr::StreamManagerOptions& o);
  void stopExports();
  std::unique_ptr<aws::CredentialsSource> export_creds_;
  std::unique_ptr<aws::HttpClient> export_http_;
  std::unique_ptr<streammgr::exporter::ExportManager> exports_;
  std::unique_ptr<streammgr::StreamManager> stream_;
  std::string stream_error_;
  std::unique_ptr<cloud::CloudClient> cloud_;  // null while evergreen.cloud.enabled is false
  // Shadow cloud sync (SyncShadow: true things) over cloud_; null when cloud_ is. Declared after
  // cloud_ and shadows_ so it is destroyed first (it unregisters itself from shadows_).
  std::unique_ptr<CloudShadowLink> shadow_link_;
  std::unique_ptr<shadow::ShadowSync> shadow_sync_;
  // IoT Jobs (evergreen.jobs.enabled, core_jobs.cc) over cloud_; destroyed before it.
  std::unique_ptr<JobAgent> jobs_;
  boost::asio::thread_pool pool_{1};        // blocking work: store reads, file writes
  std::unique_ptr<DeployHistory> history_;  // DIR/var/deployments; used on pool_ only
  std::string deploy_in_progress_;          // what is being deployed; empty: none
  std::shared_ptr<const GroupPolicy> policy_;
  RouteCounters counters_;
  // Connectors are not supported: messages routed to one are dropped, counted per connector ARN;
  // the first drop per connector (per deployment) is logged.
  std::map<std::string, uint64_t> connector_drops_;
  bool stopping_ = false;
  bool started_ = false;
  // evergreen.metrics.port != 0: the loopback HTTP endpoint (src/metrics).
  Status startMetrics();
  std::unique_ptr<metrics::HttpServer> metrics_;
  // EVERGREEN_TEST_HOOKS=1 at start enables control op "debug-block-loop" (watchdog test only).
  bool test_hooks_ = false;
};

}  // namespace evg::daemon
