#include "daemon/core.h"

#include <filesystem>

#include "certs/certs.h"

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
}

Core::~Core() = default;

PolicyOptions Core::policyOptions() const {
  PolicyOptions p;
  p.open_broker = cfg_.evergreen.mqtt.open_broker;
  p.deny_list = cfg_.evergreen.mqtt.deny_list;
  return p;
}

Status Core::start() {
  const auto& m = cfg_.evergreen.mqtt;
  broker_ = std::make_unique<broker::Broker>(io_, brokerOptions(m), *this,
                                             Log(&logger_, "GGConnManager"));
  broker::TlsFiles tls{paths_.certs_dir + "/" + std::string(certs::kCaCertFile),
                       paths_.certs_dir + "/" + std::string(certs::kServerCertFile),
                       paths_.certs_dir + "/" + std::string(certs::kServerKeyFile)};
  Status s =
      broker_->listenTls(m.bind_address, static_cast<uint16_t>(cfg_.core_thing.gg_mqtt_port), tls);
  if (!s) return s.withContext("MQTT TLS listener: ");
  log_.info("MQTT server (mutual TLS) listening on " + m.bind_address + ":" +
            std::to_string(broker_->tlsPort()));
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

  control_ = std::make_unique<ControlServer>(
      io_, paths_.control_socket,
      [this](const json& req, ControlServer::Reply reply) { handleControl(req, std::move(reply)); },
      log_);
  EVG_RETURN_IF_ERROR(control_->start());

  if (std::filesystem::exists(paths_.group_file)) {
    auto g = group::loadGroupFile(paths_.group_file);
    if (!g) {
      log_.error("the group in " + paths_.group_file +
                 " is invalid and was not activated: " + g.status().message());
    } else {
      Status a = activate(std::move(g).value());
      if (!a) log_.error("group not activated: " + a.message());
    }
  } else {
    log_.info("no group deployed yet (evergreen deploy --root " + paths_.root + " GROUP.json)");
  }
  return Status::ok();
}

void Core::stop(std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  log_.info("stopping: closing listeners and sessions");
  if (control_) control_->stop();
  if (broker_) {
    broker_->stop([this, done = std::move(done)]() {
      log_.info("stopped");
      logger_.flush();
      done();
    });
  } else {
    done();
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
  bool policy_changed = next.evergreen.mqtt.open_broker != cfg_.evergreen.mqtt.open_broker ||
                        next.evergreen.mqtt.deny_list != cfg_.evergreen.mqtt.deny_list;
  cfg_ = std::move(next);
  if (policy_changed) {
    Status s = activate(policy_->group());
    if (!s) log_.error("SIGHUP: " + s.message());
  }
  std::string msg = "SIGHUP: config.json re-read; log level " +
                    std::string(logLevelName(cfg_.evergreen.log.level));
  if (!restart.empty()) {
    msg += "; takes effect after a restart:";
    for (const auto& r : restart) msg += " " + r;
  }
  log_.info(msg);
}

Status Core::activate(group::Group g) {
  auto revoked = certs::loadRevokedList(paths_.revoked_file);
  if (!revoked) return revoked.status().withContext(paths_.revoked_file + ": ");
  auto next = std::make_shared<const GroupPolicy>(std::move(g), std::move(revoked).value(),
                                                  policyOptions());
  auto prev = policy_;
  policy_ = next;
  // Devices whose access changed reconnect under the new rules; the others stay connected.
  if (broker_) {
    broker_->disconnectIf(
        [&](const broker::ClientInfo& c) {
          if (next->openBroker()) return !prev->openBroker();
          return prev->accessSignature(c.identity) != next->accessSignature(c.identity) ||
                 next->authorizeConnect(c.identity) != 0;
        },
        "group deployment changed this device's access");
  }
  const auto& gr = next->group();
  log_.info("group active: " + std::to_string(gr.subscriptions.size()) + " subscriptions, " +
            std::to_string(gr.devices.size()) + " devices, " + std::to_string(gr.functions.size()) +
            " functions");
  return Status::ok();
}

Result<json> Core::deploy(const json& group_json) {
  auto g = group::parseGroup(group_json);
  if (!g) {
    ++counters_.deployments_rejected;
    return g.status();
  }
  // Persist first: an acknowledged deployment survives a crash.
  EVG_RETURN_IF_ERROR(writeFileAtomic(paths_.group_file, group::toJson(*g).dump(2) + "\n"));
  size_t subs = g->subscriptions.size(), devs = g->devices.size(), fns = g->functions.size();
  EVG_RETURN_IF_ERROR(activate(std::move(g).value()));
  ++counters_.deployments;
  return json{
      {"status", "Success"}, {"subscriptions", subs}, {"devices", devs}, {"functions", fns}};
}

json Core::status() const {
  json j;
  j["thingName"] = cfg_.core_thing.thing_name;
  j["openBroker"] = cfg_.evergreen.mqtt.open_broker;
  if (broker_) {
    auto s = broker_->stats();
    j["mqtt"] = {{"tlsPort", broker_->tlsPort()},
                 {"plaintextPort", broker_->tcpPort()},
                 {"connections", s.connections},
                 {"connectedClients", s.connected_clients},
                 {"connectionsTotal", s.connections_total},
                 {"connectionsRefused", s.connections_refused},
                 {"messagesIn", s.messages_in},
                 {"messagesOut", s.messages_out},
                 {"droppedQueueFull", s.dropped_queue_full},
                 {"droppedOversize", s.dropped_oversize},
                 {"droppedSlowConsumer", s.dropped_slow_consumer},
                 {"droppedOfflineQos0", s.dropped_offline_qos0},
                 {"droppedRetainedFull", s.dropped_retained_full},
                 {"protocolErrors", s.protocol_errors},
                 {"keepaliveTimeouts", s.keepalive_timeouts},
                 {"retained", s.retained},
                 {"sessions", s.sessions}};
  }
  j["router"] = {{"subscriptions", policy_->group().subscriptions.size()},
                 {"toDevices", counters_.to_devices},
                 {"toFunctions", counters_.to_functions},
                 {"functionInvokeRefused", counters_.function_invoke_refused},
                 {"pendingCloud", counters_.pending_cloud},
                 {"pendingShadow", counters_.pending_shadow},
                 {"pendingConnector", counters_.pending_connector},
                 {"unrouted", counters_.unrouted},
                 {"deployments", counters_.deployments},
                 {"deploymentsRejected", counters_.deployments_rejected}};
  return j;
}

void Core::handleControl(const json& req, ControlServer::Reply reply) {
  std::string op = req.value("op", std::string());
  if (op == "status") {
    reply({{"ok", true}, {"result", status()}});
  } else if (op == "deploy") {
    if (!req.contains("group")) {
      reply({{"ok", false}, {"error", "deploy request has no \"group\""}});
      return;
    }
    auto r = deploy(req["group"]);
    if (!r) {
      log_.error("deployment rejected: " + r.status().message());
      reply({{"ok", false}, {"error", r.status().message()}});
    } else {
      reply({{"ok", true}, {"result", *r}});
    }
  } else if (op == "reload") {
    reloadConfig();
    reply({{"ok", true}, {"result", {{"reloaded", true}}}});
  } else {
    reply({{"ok", false}, {"error", "unknown control op \"" + op + "\""}});
  }
}

std::optional<std::string> Core::identityForCertificate(std::string_view sha256_hex) {
  auto t = policy_->thingForFingerprint(sha256_hex);
  if (!t)
    conn_log_.warn("TLS client certificate " + std::string(sha256_hex) +
                   " is not in the group (or revoked): handshake refused");
  return t;
}

uint8_t Core::authorizeConnect(const broker::ClientInfo& c) {
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
                   "': no subscription in the group delivers there");
  }
  return ok;
}

void Core::onPublish(const broker::ClientInfo& c, const broker::Message& msg) {
  if (policy_->openBroker()) {
    broker_->publish(msg, c.identity);
    return;
  }
  route(group::Endpoint::thing(c.identity), msg);
}

void Core::route(const group::Endpoint& source, const broker::Message& msg) {
  bool any = false;
  policy_->route(source, msg.topic, [&](const group::Endpoint& t) {
    any = true;
    switch (t.kind) {
      case group::Endpoint::Kind::kThing:
        ++counters_.to_devices;
        broker_->deliverToIdentity(t.id, msg);
        break;
      case group::Endpoint::Kind::kFunction:
        ++counters_.to_functions;
        break;
      case group::Endpoint::Kind::kCloud:
        ++counters_.pending_cloud;
        break;
      case group::Endpoint::Kind::kShadow:
        ++counters_.pending_shadow;
        break;
      case group::Endpoint::Kind::kConnector:
        ++counters_.pending_connector;
        break;
    }
  });
  if (!any) {
    ++counters_.unrouted;
    if (log_.enabled(LogLevel::kDebug)) {
      log_.debug("no subscription for " + source.toString() + " on '" + msg.topic + "': dropped");
    }
  }
}

bool Core::mayReceiveRetained(const broker::ClientInfo& subscriber,
                              std::string_view source_identity, std::string_view topic) {
  if (policy_->openBroker()) return true;
  return policy_->mayReceive(source_identity, subscriber.identity, topic);
}

void Core::onConnected(const broker::ClientInfo& c) {
  conn_log_.info("client '" + c.client_id + "' (" + c.identity + ") connected from " + c.peer +
                 (c.tls ? " over TLS" : " over plaintext"));
}

void Core::onDisconnected(const broker::ClientInfo& c, std::string_view reason) {
  conn_log_.info("client '" + c.client_id + "' disconnected: " + std::string(reason));
}

}  // namespace evg::daemon
