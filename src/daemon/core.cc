#include "daemon/core.h"

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
#include "container/container_spawner.h"
#include "daemon/fd_limit.h"
#include "daemon/function_specs.h"
#include "discovery/discovery.h"
#include "secrets/secrets_cli.h"

namespace evg::daemon {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

broker::BrokerOptions brokerOptions(const config::MqttOptions& m) {
  broker::BrokerOptions o;
  o.max_connections = static_cast<size_t>(m.max_connections);
  o.max_payload_bytes = static_cast<size_t>(m.max_payload_bytes);
  o.max_queued_per_client = static_cast<size_t>(m.max_queued_per_client);
  o.max_inflight_per_client = static_cast<size_t>(m.max_inflight_per_client);
  o.max_subscriptions_per_client = static_cast<size_t>(m.max_subscriptions_per_client);
  o.max_retained = static_cast<size_t>(m.max_retained);
  o.max_retained_bytes = static_cast<size_t>(m.max_retained_bytes);
  o.max_queued_bytes_per_client = static_cast<size_t>(m.max_queued_bytes_per_client);
  o.coalesce_input = std::chrono::microseconds(m.coalesce_input_micros);
  o.coalesce_busy_wakeups = static_cast<unsigned>(m.coalesce_after_wakeups);
  return o;
}

}  // namespace

Core::Core(asio::io_context& io, RootPaths paths, config::CoreConfig cfg, Logger& logger)
    : io_(io),
      paths_(std::move(paths)),
      cfg_(std::move(cfg)),
      logger_(logger),
      log_(&logger, "runtime"),
      conn_log_(&logger, "GGConnManager") {
  policy_ =
      std::make_shared<const GroupPolicy>(group::Group{}, std::set<std::string>{}, policyOptions());
  functions::FunctionStoreOptions so;
  so.root_dir = paths_.root;
  so.region = cfg_.core_thing.region;
  so.account = cfg_.core_thing.account;
  store_ = std::make_unique<functions::FunctionStore>(so);
  history_ = std::make_unique<DeployHistory>(DeployHistoryOptions{
      deploymentsDirOf(paths_.root), static_cast<size_t>(cfg_.evergreen.deployments.max_history)});
}

Core::~Core() { pool_.join(); }

PolicyOptions Core::policyOptions() const {
  PolicyOptions p;
  p.open_broker = cfg_.evergreen.mqtt.open_broker;
  p.deny_list = cfg_.evergreen.mqtt.deny_list;
  return p;
}

Status Core::start() {
  const FdLimit fds = raiseFdLimit(fdsNeeded(cfg_));
  if (fds.short_of_needed()) {
    log_.warn(fds.message);
  } else if (!fds.message.empty()) {
    log_.info(fds.message);
  }
  const uint64_t child_nofile = fds.soft != fds.soft_before ? fds.soft_before : 0;
  const auto& m = cfg_.evergreen.mqtt;
  broker_ = std::make_unique<broker::Broker>(io_, brokerOptions(m), *this,
                                             Log(&logger_, "GGConnManager"));
  if (m.persistence) {
    // Before listening: sessions and retained messages of the last run are back before anyone
    // connects. A store that cannot be opened is logged; the broker then runs without it.
    std::string db = m.persistence_path.empty() ? cfg_.write_directory + "/var/spool/broker.db"
                                                : m.persistence_path;
    if (Status ps = broker_->enablePersistence(
            db, std::chrono::milliseconds(m.persistence_flush_interval_ms));
        !ps) {
      log_.error(
          "broker persistence unavailable (sessions and retained messages will not "
          "survive a restart): " +
          ps.message());
    }
  }
  broker::TlsFiles tls{paths_.certs_dir + "/" + std::string(certs::kCaCertFile),
                       paths_.certs_dir + "/" + std::string(certs::kServerCertFile),
                       paths_.certs_dir + "/" + std::string(certs::kServerKeyFile)};
  // The server certificate names every address devices use to reach the core (v1 re-issued it
  // when its connectivity changed): re-issued here when the set differs from the last one.
  {
    auto changed = ensureServerCertificate(false);
    if (!changed) return changed.status().withContext("server certificate: ");
  }
  // A core imported from Greengrass v1 (evergreen import-v1) keeps serving v1's server
  // certificate while it is valid, so devices that trust the v1 group CA keep connecting.
  std::string v1_cert = paths_.certs_dir + "/v1-server.pem";
  std::string v1_key = paths_.certs_dir + "/v1-server.key";
  if (::access(v1_cert.c_str(), R_OK) == 0) {
    auto v = certs::certificateValidity(v1_cert, v1_key);
    if (v && !v->expired && importedServerCertSwitchDue()) {
      log_.info(
          "imported Greengrass v1 server certificate not used: evergreen.certs."
          "importedServerCertUntil " +
          cfg_.evergreen.certs.imported_server_cert_until + " has passed; serving Evergreen's own");
    } else if (v && !v->expired) {
      tls.cert_file = v1_cert;
      tls.key_file = v1_key;
      log_.info("serving the imported Greengrass v1 server certificate until it expires on " +
                v->not_after + "; from the first start after that, Evergreen's own (signed by " +
                tls.ca_file + ")");
    } else {
      log_.warn("imported Greengrass v1 server certificate " + v1_cert +
                " not used: " + (v ? "expired on " + v->not_after : v.status().message()));
    }
  }
  tls_files_ = tls;
  Status s =
      broker_->listenTls(m.bind_address, static_cast<uint16_t>(cfg_.core_thing.gg_mqtt_port), tls);
  if (s) scheduleServerCertCheck();
  if (!s) return s.withContext("MQTT TLS listener: ");
  log_.info("MQTT server (mutual TLS) listening on " + m.bind_address + ":" +
            std::to_string(broker_->tlsPort()));
  if (const auto& d = cfg_.evergreen.discovery; d.port != 0) {
    discovery::ServerOptions dopts;
    dopts.bind_address = d.bind_address;
    dopts.port = static_cast<uint16_t>(d.port);
    dopts.cert_file = paths_.certs_dir + "/" + std::string(certs::kServerCertFile);
    dopts.key_file = paths_.certs_dir + "/" + std::string(certs::kServerKeyFile);
    dopts.ca_file = tls.ca_file;
    discovery_ = std::make_unique<discovery::DiscoveryServer>(
        io_, dopts, [this](std::string_view fp) { return identityForCertificate(fp); },
        [this] { return discoveryInfo(); }, Log(&logger_, "GGDiscovery"));
    s = discovery_->start();
    if (!s) return s;
    log_.info("Greengrass discovery (HTTPS, mutual TLS) on " + d.bind_address + ":" +
              std::to_string(discovery_->port()));
    if (tls.cert_file != dopts.cert_file) {
      log_.warn(
          "discovery answers Evergreen's group CA, but the MQTT listener serves the imported "
          "v1 server certificate: devices that discover must wait for its expiry");
    }
  }
  if (m.plaintext_port != 0) {
    s = broker_->listenTcp("127.0.0.1", static_cast<uint16_t>(m.plaintext_port));
    if (!s) return s.withContext("MQTT plaintext listener: ");
    log_.warn(
        "INSECURE plaintext MQTT listener on 127.0.0.1:" + std::to_string(broker_->tcpPort()) +
        " (development only: the client id is taken as the thing name, no authentication)");
  }
  if (m.open_broker) {
    log_.warn("open broker mode: any client may publish and subscribe (deny list: " +
              std::to_string(m.deny_list.size()) + " filters); the group's table is not applied");
  }

  lambda::HostOptions ho;
  ho.port = static_cast<uint16_t>(cfg_.core_thing.gg_daemon_port);
  ho.root_dir = paths_.root;
  ho.runtime_dir = findRuntimeDir();
  ho.region = cfg_.core_thing.region;
  ho.account = cfg_.core_thing.account;
  ho.thing_name = cfg_.core_thing.thing_name;
  ho.max_work_items = static_cast<size_t>(cfg_.runtime.max_work_item_count);
  ho.max_work_bytes = static_cast<size_t>(cfg_.evergreen.runtime.max_work_queue_bytes);
  ho.max_concurrent = static_cast<size_t>(cfg_.runtime.max_concurrent_limit);
  ho.allow_root = cfg_.runtime.allow_functions_to_run_as_root;
  ho.child_nofile_soft = child_nofile;
  ho.interpreters = cfg_.evergreen.runtime.interpreters;
  ho.restart_functions_on_deploy = cfg_.evergreen.runtime.restart_functions_on_deploy;
  ho.max_standby_workers = static_cast<size_t>(cfg_.evergreen.runtime.standby_workers);
  ho.stop_grace_ms = 1000;  // SIGTERM of the core completes within 2 s
  ho.log_level = std::string(logLevelName(cfg_.evergreen.log.level));
  ho.worker_registry_dir = paths_.run_dir + "/workers";  // leftovers of a kill -9 are swept
  const config::IpcConfig& ipc = cfg_.evergreen.ipc;
  ho.max_connections = static_cast<size_t>(ipc.max_connections);
  ho.max_connections_per_peer = static_cast<size_t>(ipc.max_connections_per_peer);
  ho.ipc_header_timeout_ms = static_cast<uint32_t>(ipc.header_timeout_ms);
  ho.ipc_idle_timeout_ms = static_cast<uint32_t>(ipc.idle_timeout_ms);
  ho.ipc_body_timeout_ms = static_cast<uint32_t>(ipc.body_timeout_ms);
  // GreengrassContainer functions: namespaces + cgroups (src/container); needs root.
  std::unique_ptr<supervisor::WorkerSpawner> containers;
  std::unique_ptr<supervisor::WorkerSpawner> plain;  // null: the host's NoContainerSpawner
  if (geteuid() == 0) {
    container::ContainerOptions co;
    co.allow_root = ho.allow_root;
    co.child_nofile_soft = child_nofile;
    co.limits_mandatory = cfg_.evergreen.runtime.container_limits_mandatory;
    co.state_dir = paths_.run_dir + "/container";
    co.tmp_size_bytes = static_cast<uint64_t>(cfg_.evergreen.runtime.container_tmp_size_mb) << 20;
    co.pids_max = static_cast<uint64_t>(cfg_.evergreen.runtime.container_pids_max);
    co.cgroups.parent = container::cgroupParentFor(paths_.root);
    auto cs = std::make_unique<container::ContainerSpawner>(co, Log(&logger_, "Container"));
    Status cst = cs->init();
    if (cst) {
      // NoContainer workers get a tracking cgroup each (killed with the core's leftovers).
      plain = cs->plainSpawner(supervisor::NoContainerOptions{ho.allow_root, child_nofile});
      containers = std::move(cs);
    } else {
      log_.error("GreengrassContainer isolation unavailable (" + cst.message() +
                 "); such functions run as NoContainer");
    }
  } else {
    log_.warn(
        "not running as root: GreengrassContainer functions run as NoContainer (no "
        "namespaces, no memory limit)");
  }
  host_ = std::make_unique<lambda::FunctionHost>(io_, ho, *this, Log(&logger_, "LambdaHost"),
                                                 std::move(plain), std::move(containers));
  EVG_RETURN_IF_ERROR(host_->start().withContext("IPC server: "));
  log_.info("IPC server (v1 SDK protocol) listening on 127.0.0.1:" + std::to_string(host_->port()) +
            ", runtimes in " + ho.runtime_dir);
  EVG_RETURN_IF_ERROR(startServices());
  startTes();

  control_ = std::make_unique<ControlServer>(
      io_, paths_.control_socket,
      [this](const json& req, ControlServer::Reply reply) { handleControl(req, std::move(reply)); },
      log_);
  EVG_RETURN_IF_ERROR(control_->start());

  if (std::filesystem::exists(paths_.group_file)) {
    auto text = readFile(paths_.group_file);
    auto j = text ? parseJson(*text) : Result<json>(text.status());
    auto p = !j ? Result<Prepared>(j.status()) : prepare(*j);
    if (!p) {
      log_.error("the group in " + paths_.group_file +
                 " was not activated: " + p.status().message());
      DeploymentRecord r;
      r.source = "start";
      r.group_hash = j ? groupHash(*j) : std::string();
      r.message = p.status().message();
      recordStartActivation(std::move(r), std::nullopt);
    } else {
      json canonical;
      DeploymentRecord r = describe(*p, "start", &canonical);
      Status a = activate(std::move(p).value());
      if (!a) log_.error("group not activated: " + a.message());
      r.succeeded = a.isOk();
      r.message = a.message();
      recordStartActivation(std::move(r), std::move(canonical));
    }
  } else {
    log_.info("no group deployed yet (evergreen deploy --root " + paths_.root + " GROUP.json)");
  }
  EVG_RETURN_IF_ERROR(startCloud());
  EVG_RETURN_IF_ERROR(startMetrics());
  const char* hooks = std::getenv("EVERGREEN_TEST_HOOKS");
  test_hooks_ = hooks != nullptr && std::string(hooks) == "1";
  if (test_hooks_) log_.warn("EVERGREEN_TEST_HOOKS=1: test-only control operations are enabled");
  started_ = true;
  return Status::ok();
}

void Core::stop(std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  log_.info("stopping: closing listeners and sessions");
  if (control_) control_->stop();
  if (metrics_) metrics_->stop();
  if (discovery_) discovery_->stop();
  cert_timer_.cancel();
  if (jobs_) jobs_->stop();
  if (tes_) tes_->stop();
  stopExports();
  if (stream_) stream_->stop();
  auto finish = [this, done = std::move(done)]() {
    log_.info("stopped");
    logger_.flush();
    done();
  };
  auto stop_cloud = [this, finish = std::move(finish)]() mutable {
    if (cloud_) {
      cloud_->stop(std::move(finish));  // commits the spool
    } else {
      finish();
    }
  };
  auto stop_broker = [this, finish = std::move(stop_cloud)]() mutable {
    if (broker_) {
      broker_->stop(std::move(finish));
    } else {
      finish();
    }
  };
  if (host_) {
    host_->stop(std::move(stop_broker));
  } else {
    stop_broker();
  }
}

void Core::reloadConfig() {
  auto c = config::loadConfigFile(paths_.config_file, paths_.root);
  if (!c) {
    log_.error("SIGHUP: config not reloaded, keeping the running one: " + c.status().message());
    return;
  }
  config::CoreConfig next = std::move(c).value();
  logger_.setLevel(next.evergreen.log.level);
  std::vector<std::string> restart;
  if (next.core_thing.gg_mqtt_port != cfg_.core_thing.gg_mqtt_port)
    restart.push_back("coreThing.ggMqttPort");
  if (next.core_thing.gg_daemon_port != cfg_.core_thing.gg_daemon_port)
    restart.push_back("coreThing.ggDaemonPort");
  if (next.evergreen.mqtt.plaintext_port != cfg_.evergreen.mqtt.plaintext_port)
    restart.push_back("evergreen.mqtt.plaintextPort");
  if (next.evergreen.mqtt.bind_address != cfg_.evergreen.mqtt.bind_address)
    restart.push_back("evergreen.mqtt.bindAddress");
  if (next.evergreen.mqtt.persistence != cfg_.evergreen.mqtt.persistence ||
      next.evergreen.mqtt.persistence_path != cfg_.evergreen.mqtt.persistence_path ||
      next.evergreen.mqtt.persistence_flush_interval_ms !=
          cfg_.evergreen.mqtt.persistence_flush_interval_ms)
    restart.push_back("evergreen.mqtt.persistence*");
  if (next.evergreen.mqtt.coalesce_input_micros != cfg_.evergreen.mqtt.coalesce_input_micros ||
      next.evergreen.mqtt.coalesce_after_wakeups != cfg_.evergreen.mqtt.coalesce_after_wakeups)
    restart.push_back("evergreen.mqtt.coalesce*");
  {
    const auto& oc = cfg_.evergreen.cloud;
    const auto& nc = next.evergreen.cloud;
    if (oc.enabled != nc.enabled || oc.host != nc.host || oc.port != nc.port ||
        oc.plaintext != nc.plaintext || oc.storage_type != nc.storage_type ||
        oc.spool_path != nc.spool_path || oc.max_inflight != nc.max_inflight ||
        oc.max_size_bytes != nc.max_size_bytes || oc.flush_interval_ms != nc.flush_interval_ms ||
        oc.sync_full != nc.sync_full ||
        oc.persistent_subscriptions != nc.persistent_subscriptions) {
      restart.push_back("evergreen.cloud");
    }
  }
  {
    const auto& ot = cfg_.evergreen.tes;
    const auto& nt = next.evergreen.tes;
    if (ot.credentials_endpoint != nt.credentials_endpoint || ot.role_alias != nt.role_alias ||
        ot.refresh_margin_s != nt.refresh_margin_s || ot.serve_wait_ms != nt.serve_wait_ms ||
        ot.request_timeout_ms != nt.request_timeout_ms ||
        ot.retry_initial_ms != nt.retry_initial_ms || ot.retry_max_ms != nt.retry_max_ms ||
        ot.max_waiting != nt.max_waiting) {
      restart.push_back("evergreen.tes");
    }
  }
  bool deny_changed = next.evergreen.mqtt.deny_list != cfg_.evergreen.mqtt.deny_list;
  bool policy_changed = next.evergreen.mqtt.open_broker != cfg_.evergreen.mqtt.open_broker ||
                        next.evergreen.mqtt.deny_list != cfg_.evergreen.mqtt.deny_list;
  cfg_ = std::move(next);
  if (policy_changed) {
    auto revoked = certs::loadRevokedList(paths_.revoked_file);
    if (!revoked) {
      log_.error("SIGHUP: " + revoked.status().message());
    } else {
      swapPolicy(std::make_shared<const GroupPolicy>(policy_->group(), std::move(revoked).value(),
                                                     policyOptions()),
                 deny_changed);
    }
  }
  std::string msg = "SIGHUP: config.json re-read; log level " +
                    std::string(logLevelName(cfg_.evergreen.log.level));
  if (!restart.empty()) {
    msg += "; takes effect after a restart:";
    for (const auto& r : restart) msg += " " + r;
  }
  log_.info(msg);
}

void Core::swapPolicy(std::shared_ptr<const GroupPolicy> next, bool deny_list_changed) {
  auto prev = policy_;
  policy_ = next;
  if (!broker_) return;
  // Clients whose right to be connected changed reconnect under the new rules; the others stay.
  // A changed deny list drops open-mode clients so that no subscription granted under the old
  // list keeps receiving.
  broker_->disconnectIf(
      [&](const broker::ClientInfo& c) {
        if (next->openBroker()) return !prev->openBroker() || deny_list_changed;
        if (prev->openBroker()) {
          // Group mode: also the v1 client id rule (authorizeConnect).
          return next->authorizeConnect(c.identity) != 0 || c.client_id != c.identity;
        }
        return prev->accessSignature(c.identity) != next->accessSignature(c.identity) ||
               next->authorizeConnect(c.identity) != 0;
      },
      "group or broker policy changed this client's access");
}

Result<Core::Prepared> Core::prepare(const json& group_json) const {
  auto g = group::parseGroup(group_json);
  if (!g) return g.status();
  if (auto co = cloudOptions(*g); !co) return co.status();
  if (auto so = streamManagerOptions(*g); !so) return so.status();
  std::vector<std::string> warnings;
  auto specs = functionSpecsForGroup(*g, *store_, cfg_, &warnings);
  if (!specs) return specs.status();
  for (const auto& c : g->connectors) {
    warnings.push_back("ConnectorDefinitionVersion.Connectors[Id=" + c.id + "]: connector " +
                       c.arn +
                       " is not supported by Evergreen: it is not run and messages routed to it "
                       "are dropped");
  }
  std::vector<std::string> versions;
  for (const auto& f : g->functions) {
    if (f.parsed.region.empty() && f.parsed.account.empty()) continue;  // system functions
    if (auto r = store_->resolve(f.arn)) versions.push_back(r->version.arn);
  }
  return Prepared{std::move(g).value(), std::move(specs).value(), std::move(versions),
                  std::move(warnings)};
}

supervisor::RuntimePaths Core::runtimePaths() const {
  supervisor::RuntimePaths p;
  p.runtime_dir = findRuntimeDir();
  p.interpreters = cfg_.evergreen.runtime.interpreters;
  return p;
}

Result<std::vector<std::string>> Core::validateGroup(const json& group_json) const {
  auto p = prepare(group_json);
  if (!p) return p.status();
  EVG_RETURN_IF_ERROR(supervisor::validateSpecs(p->specs, runtimePaths()));
  return std::move(p->warnings);
}

Status Core::activate(Prepared p) {
  auto revoked = certs::loadRevokedList(paths_.revoked_file);
  if (!revoked) return revoked.status().withContext(paths_.revoked_file + ": ");
  // The stream manager first: functions started by this deployment get its port.
  applyStreamManager(p.group);
  // Functions first: the host validates the whole set before changing anything.
  if (host_) EVG_RETURN_IF_ERROR(host_->deploy(std::move(p.specs)));
  for (const auto& w : p.warnings) log_.warn(w);
  connector_drops_.clear();
  auto next = std::make_shared<const GroupPolicy>(std::move(p.group), std::move(revoked).value(),
                                                  policyOptions());
  swapPolicy(next, false);
  if (secrets_) secrets_->setAccess(secrets::secretAccessFromGroup(next->group()));
  const auto& gr = next->group();
  applyCloudGroup(gr);
  log_.info("group active: " + std::to_string(gr.subscriptions.size()) + " subscriptions, " +
            std::to_string(gr.devices.size()) + " devices, " + std::to_string(gr.functions.size()) +
            " functions");
  return Status::ok();
}

void Core::deploy(json group_json, std::function<void(Result<json>)> done) {
  deploy(std::move(group_json), DeployMeta{}, std::move(done));
}

void Core::deploy(json group_json, DeployMeta meta, std::function<void(Result<json>)> done) {
  if (!deploy_in_progress_.empty()) {
    done(Status::busy("another deployment is in progress (" + deploy_in_progress_ +
                      "); try again when it has finished"));
    return;
  }
  deploy_in_progress_ = !meta.label.empty() ? meta.label
                        : meta.source == "rollback" && meta.rollback_of
                            ? "rollback to deployment " + std::to_string(*meta.rollback_of)
                            : meta.source + " requested through the control socket";
  // Every outcome is recorded in the history (on the pool) before the reply; the reply carries
  // the deployment id.
  done = [this, meta, done = std::move(done)](Result<json> r) mutable {
    auto finish = [this, done = std::move(done), r](std::optional<DeploymentRecord>) mutable {
      deploy_in_progress_.clear();
      done(std::move(r));
    };
    if (r) {
      finish(std::nullopt);  // recorded by the success path below
      return;
    }
    DeploymentRecord rec;
    rec.source = meta.source;
    rec.rollback_of = meta.rollback_of;
    rec.message = r.status().message();
    recordDeployment(std::move(rec), std::nullopt, std::move(finish));
  };
  // Blocking half on the pool, activation on the loop, persistence on the pool, reply on the loop.
  // One log line per step (operators follow long deployments with `evergreen logs -f`).
  auto t0 = std::chrono::steady_clock::now();
  log_.info("deployment 1/4: validating the group and resolving its functions");
  asio::post(pool_, [this, t0, gj = std::move(group_json), meta, done = std::move(done)]() mutable {
    auto prepared = prepare(gj);
    if (prepared && meta.expected_functions) {
      auto want = *meta.expected_functions, got = prepared->function_versions;
      std::sort(want.begin(), want.end());
      std::sort(got.begin(), got.end());
      if (want != got) {
        std::string g;
        for (const auto& a : got) g += (g.empty() ? "" : ", ") + a;
        prepared = Status::conflict(
            "the group now resolves to other function versions (" + g +
            ") than when it was deployed (an alias moved); deploy it explicitly instead");
      }
    }
    asio::post(io_, [this, t0, prepared = std::move(prepared), meta,
                     done = std::move(done)]() mutable {
      if (prepared) {
        log_.info("deployment 2/4: activating " + std::to_string(prepared->group.functions.size()) +
                  " functions, " + std::to_string(prepared->group.subscriptions.size()) +
                  " subscriptions");
      }
      if (!prepared) {
        ++counters_.deployments_rejected;
        done(prepared.status());
        return;
      }
      json canonical;
      DeploymentRecord rec = describe(*prepared, meta.source, &canonical);
      rec.rollback_of = meta.rollback_of;
      rec.succeeded = true;
      if (meta.rollback_of) rec.message = "re-activates " + std::to_string(*meta.rollback_of);
      if (!meta.note.empty()) rec.message = meta.note;
      json summary = {{"status", "Success"},
                      {"subscriptions", prepared->group.subscriptions.size()},
                      {"devices", prepared->group.devices.size()},
                      {"functions", prepared->group.functions.size()}};
      if (!prepared->warnings.empty()) summary["warnings"] = prepared->warnings;
      std::string file_text = group::toJson(prepared->group).dump(2) + "\n";
      Status a = activate(std::move(prepared).value());
      if (!a) {
        ++counters_.deployments_rejected;
        done(a);
        return;
      }
      ++counters_.deployments;
      // Acknowledge only once the group is on disk: an acknowledged deployment survives a crash.
      log_.info("deployment 3/4: group active; writing " + paths_.group_file);
      asio::post(pool_, [this, t0, file_text = std::move(file_text), summary = std::move(summary),
                         rec = std::move(rec), canonical = std::move(canonical),
                         done = std::move(done)]() mutable {
        Status w = writeFileAtomic(paths_.group_file, file_text);
        if (w) {
          auto r = history_->record(rec, &canonical);
          if (r) {
            summary["deploymentId"] = r->id;
            summary["groupHash"] = r->group_hash;
            std::string pruned = pruneFunctionVersions();
            if (!pruned.empty()) summary["pruned"] = pruned;
          } else {
            summary["historyError"] = r.status().message();
          }
        }
        asio::post(io_, [this, t0, w = std::move(w), summary = std::move(summary),
                         done = std::move(done)]() mutable {
          if (summary.contains("pruned")) {
            log_.info(summary["pruned"].get<std::string>());
            summary.erase("pruned");
          }
          if (!summary.contains("deploymentId") && summary.contains("historyError")) {
            log_.error("deployment not recorded: " + summary["historyError"].get<std::string>());
          }
          if (!w) {
            done(w.withContext("group active but not persisted: "));
          } else {
            log_.info("deployment 4/4: done in " +
                      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - t0)
                                         .count()) +
                      " ms");
            done(std::move(summary));
          }
        });
      });
    });
  });
}

void Core::handleControl(const json& req, ControlServer::Reply reply) {
  std::string op = req.value("op", std::string());
  if (op == "status") {
    reply({{"ok", true}, {"result", status()}});
  } else if (op == "deploy") {
    if (refusedDuringJob(op, reply)) return;
    if (!req.contains("group")) {
      reply({{"ok", false}, {"error", "deploy request has no \"group\""}});
      return;
    }
    deploy(req["group"], [this, reply = std::move(reply)](Result<json> r) {
      if (!r) {
        log_.error("deployment rejected: " + r.status().message());
        reply({{"ok", false}, {"error", r.status().message()}});
      } else {
        reply({{"ok", true}, {"result", *r}});
      }
    });
  } else if (handleDeploymentControl(op, req, reply)) {
    return;
  } else if (op == "renew-server-cert") {
    renewServerCertificate(true, [reply](Result<json> r) {
      if (!r) {
        reply({{"ok", false}, {"error", r.status().message()}});
      } else {
        reply({{"ok", true}, {"result", *r}});
      }
    });
  } else if (op == "reload") {
    reloadConfig();
    reply({{"ok", true}, {"result", {{"reloaded", true}}}});
  } else if (op == "debug-block-loop" && test_hooks_) {
    // Test hook (EVERGREEN_TEST_HOOKS=1 only): blocks the event loop, as a hung handler would,
    // so the watchdog test can see the pings stop. Bounded to 60 s.
    int ms = 0;
    if (auto it = req.find("ms"); it != req.end() && it->is_number_integer()) {
      ms = static_cast<int>(std::clamp<int64_t>(it->get<int64_t>(), 0, 60000));
    }
    log_.warn("debug-block-loop: blocking the event loop for " + std::to_string(ms) + " ms");
    reply({{"ok", true}, {"result", {{"blockedMs", ms}}}});
    ::usleep(static_cast<useconds_t>(ms) * 1000);
  } else {
    reply({{"ok", false}, {"error", "unknown control op \"" + op + "\""}});
  }
}

Status Core::startServices() {
  // Shadows: DIR/var/shadow/shadows.db (SQLite WAL, synchronous commits on the loop; see
  // src/shadow/shadow_store.h for the cost and durability).
  auto st = shadow::SqliteShadowStore::open(paths_.shadow_db);
  if (!st) return st.status().withContext("shadow store: ");
  shadow_store_ = std::move(st).value();
  shadows_ = std::make_unique<shadow::ShadowService>(
      shadow::ShadowServiceOptions{}, *shadow_store_,
      [this](const std::string& topic, const std::string& payload) {
        route(group::Endpoint::shadow(),
              broker::Message{topic, std::make_shared<const std::string>(payload), 0, false});
      },
      Log(&logger_, "GGShadowService"));
  // Secrets: DIR/var/secrets/secrets.json, data key wrapped with the SecretsManager principal's
  // RSA key when it exists, else with DIR/certs/secrets.key (generated, 0600): see
  // secrets::chooseSecretsKey.
  auto sp =
      secrets::chooseSecretsKey(paths_.root + "/var/secrets/secrets.json",
                                cfg_.crypto.secrets_key_path, paths_.certs_dir + "/secrets.key");
  secrets::SecretStoreOptions so;
  so.path = sp.store_path;
  so.key_path = sp.key_path;
  so.create_key = !sp.key_configured;
  auto ss = secrets::SecretStore::open(so);
  if (!ss) {
    log_.error("secrets unavailable (get_secret_value answers 500): " + ss.status().message());
  } else {
    secret_store_ = std::move(ss).value();
    secrets_ =
        std::make_unique<secrets::SecretService>(*secret_store_, Log(&logger_, "GGSecretManager"));
  }
  if (host_) host_->setSystemServices(this);
  return Status::ok();
}

std::string Core::shadowInvoke(const std::string& /*caller_arn*/, const std::string& subject,
                               const std::string& body) {
  auto t = shadow::parseShadowRequestTopic(subject);
  if (!t || !shadows_) {
    shadow::ShadowError e{400,
                          "Invalid shadow subject '" + subject +
                              "' (expected $aws/things/<thing>/shadow/<get|update|delete>)",
                          {}};
    if (!shadows_) e = {500, "Internal service failure", {}};
    return shadow::errorPayload(e, static_cast<int64_t>(std::time(nullptr)));
  }
  return shadows_->handle(t->thing, t->op, body, shadow::Origin::kSdk).payload;
}

std::string Core::secretInvoke(const std::string& caller_arn, const std::string& body) {
  if (!secrets_) {
    return json{{"Status", 500}, {"Message", "the secret store is not available on this core"}}
        .dump();
  }
  return secrets_->handle(caller_arn, body);
}

}  // namespace evg::daemon
