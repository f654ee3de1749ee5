#include "config/config.h"

#include <arpa/inet.h>

#include <cctype>
#include <filesystem>

#include "config/arn.h"
#include "config/json_fields.h"
#include "mqtt/topic.h"

namespace evg::config {

using nlohmann::json;

namespace {

constexpr int64_t kMaxInt = INT32_MAX;

std::string resolveAgainst(const std::string& p, const std::string& base) {
  if (p.empty() || p[0] == '/' || base.empty()) return p;
  return (std::filesystem::path(base) / p).lexically_normal().string();
}

void addUnused(CoreConfig* c, const FieldReader& r, std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys) {
    if (r.has(k)) c->unused_fields.push_back(r.path(k));
  }
}

void addUnknown(CoreConfig* c, const FieldReader& r) {
  for (auto& k : r.unknownKeys()) c->unused_fields.push_back(k);
}

Status parseNetworkProxy(const json& j, const std::string& path, NetworkProxy* out) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.string("noProxyAddresses", &out->no_proxy_addresses));
  const json* proxy = nullptr;
  EVG_RETURN_IF_ERROR(r.object("proxy", &proxy, true));
  FieldReader p(*proxy, r.path("proxy"));
  EVG_RETURN_IF_ERROR(p.nonEmptyString("url", &out->url, true));
  if (out->url.rfind("http://", 0) != 0 && out->url.rfind("https://", 0) != 0) {
    return fieldError(p.path("url"),
                      "expected an http:// or https:// URL, got " + describeJson(json(out->url)));
  }
  EVG_RETURN_IF_ERROR(p.string("username", &out->username));
  EVG_RETURN_IF_ERROR(p.string("password", &out->password));
  return Status::ok();
}

Status parseCoreThing(const json& j, CoreConfig* c, bool has_crypto) {
  FieldReader r(j, "coreThing");
  CoreThingConfig& t = c->core_thing;
  EVG_RETURN_IF_ERROR(r.nonEmptyString("thingArn", &t.thing_arn, true));
  auto arn = parseThingArn(t.thing_arn);
  if (!arn) return fieldError(r.path("thingArn"), arn.status().message());
  t.thing_name = arn->name;
  t.region = arn->region;
  t.account = arn->account;
  if (t.thing_name.size() > 124) {
    return fieldError(r.path("thingArn"), "core thing name longer than 124 bytes");
  }
  EVG_RETURN_IF_ERROR(r.string("iotHost", &t.iot_host));
  EVG_RETURN_IF_ERROR(r.string("ggHost", &t.gg_host));
  EVG_RETURN_IF_ERROR(r.integerOneOf("iotMqttPort", {8883, 443}, &t.iot_mqtt_port));
  EVG_RETURN_IF_ERROR(r.integerOneOf("iotHttpPort", {8443, 443}, &t.iot_http_port));
  EVG_RETURN_IF_ERROR(r.integer("ggMqttPort", 1024, 65535, &t.gg_mqtt_port));
  EVG_RETURN_IF_ERROR(r.integerOneOf("ggHttpPort", {8443, 443}, &t.gg_http_port));
  EVG_RETURN_IF_ERROR(r.integer("keepAlive", 30, 1200, &t.keep_alive_s));
  const json* proxy = nullptr;
  EVG_RETURN_IF_ERROR(r.object("networkProxy", &proxy));
  if (proxy != nullptr) {
    NetworkProxy np;
    EVG_RETURN_IF_ERROR(parseNetworkProxy(*proxy, r.path("networkProxy"), &np));
    t.network_proxy = std::move(np);
  }
  EVG_RETURN_IF_ERROR(r.integer("mqttOperationTimeout", 5, kMaxInt, &t.mqtt_operation_timeout_s));
  EVG_RETURN_IF_ERROR(r.integer("ggDaemonPort", 1024, 65535, &t.gg_daemon_port));
  EVG_RETURN_IF_ERROR(
      r.integer("systemComponentAuthTimeout", 500, 5000, &t.system_component_auth_timeout_ms));

  // Legacy key paths (relative to <root>/certs); ignored when the crypto block is present.
  std::string ca, cert, key;
  EVG_RETURN_IF_ERROR(r.string("caPath", &ca));
  EVG_RETURN_IF_ERROR(r.string("certPath", &cert));
  EVG_RETURN_IF_ERROR(r.string("keyPath", &key));
  if (has_crypto) {
    addUnused(c, r, {"caPath", "certPath", "keyPath"});
  } else {
    std::string certs = c->root_dir.empty() ? "certs" : c->root_dir + "/certs";
    c->crypto.ca_path = resolveAgainst(ca, certs);
    c->crypto.core_cert_path = resolveAgainst(cert, certs);
    c->crypto.core_key_path = resolveAgainst(key, certs);
  }
  addUnused(c, r,
            {"ggHost", "iotHttpPort", "ggHttpPort", "networkProxy", "mqttOperationTimeout",
             "systemComponentAuthTimeout"});
  addUnknown(c, r);
  return Status::ok();
}

Status parseRuntime(const json& j, CoreConfig* c) {
  FieldReader r(j, "runtime");
  RuntimeConfig& rt = c->runtime;
  EVG_RETURN_IF_ERROR(r.integer("maxWorkItemCount", 1, kMaxInt, &rt.max_work_item_count));
  EVG_RETURN_IF_ERROR(r.integer("maxConcurrentLimit", 1, kMaxInt, &rt.max_concurrent_limit));
  EVG_RETURN_IF_ERROR(r.integer("lruSize", 1, kMaxInt, &rt.lru_size));
  EVG_RETURN_IF_ERROR(r.yesNo("allowFunctionsToRunAsRoot", &rt.allow_functions_to_run_as_root));
  EVG_RETURN_IF_ERROR(r.yesNo("mountAllBlockDevices", &rt.mount_all_block_devices));
  EVG_RETURN_IF_ERROR(
      r.integer("postStartHealthCheckTimeout", 0, kMaxInt, &rt.post_start_health_check_timeout_ms));
  const json* cg = nullptr;
  EVG_RETURN_IF_ERROR(r.object("cgroup", &cg));
  if (cg != nullptr) {
    FieldReader g(*cg, r.path("cgroup"));
    EVG_RETURN_IF_ERROR(g.yesNo("useSystemd", &rt.cgroup_use_systemd));
    addUnused(c, g, {"useSystemd"});
    addUnknown(c, g);
  }
  addUnused(c, r, {"mountAllBlockDevices", "postStartHealthCheckTimeout"});
  addUnknown(c, r);
  return Status::ok();
}

Status keyPathField(FieldReader& r, std::string_view key, const std::string& root, bool required,
                    std::string* out) {
  std::string v;
  EVG_RETURN_IF_ERROR(r.nonEmptyString(key, &v, required));
  if (v.empty()) return Status::ok();
  auto p = resolveKeyPath(v, root, r.path(key));
  if (!p) return p.status();
  *out = std::move(p.value());
  return Status::ok();
}

Status parseCrypto(const json& j, CoreConfig* c) {
  FieldReader r(j, "crypto");
  CryptoConfig& cr = c->crypto;
  cr.from_crypto_block = true;
  EVG_RETURN_IF_ERROR(keyPathField(r, "caPath", c->root_dir, false, &cr.ca_path));
  const json* pkcs = nullptr;
  EVG_RETURN_IF_ERROR(r.object("PKCS11", &pkcs));
  if (pkcs != nullptr) {
    FieldReader p(*pkcs, r.path("PKCS11"));
    std::string s;
    for (const char* k : {"OpenSSLEngine", "P11Provider", "slotLabel", "slotUserPin"}) {
      EVG_RETURN_IF_ERROR(p.string(k, &s));
    }
    addUnknown(c, p);
  }
  const json* principals = nullptr;
  EVG_RETURN_IF_ERROR(r.object("principals", &principals));
  if (principals != nullptr) {
    FieldReader pr(*principals, r.path("principals"));
    const json* obj = nullptr;
    EVG_RETURN_IF_ERROR(pr.object("IoTCertificate", &obj));
    if (obj != nullptr) {
      FieldReader o(*obj, pr.path("IoTCertificate"));
      EVG_RETURN_IF_ERROR(keyPathField(o, "privateKeyPath", c->root_dir, true, &cr.core_key_path));
      EVG_RETURN_IF_ERROR(
          keyPathField(o, "certificatePath", c->root_dir, true, &cr.core_cert_path));
      addUnknown(c, o);
    }
    EVG_RETURN_IF_ERROR(pr.object("MQTTServerCertificate", &obj));
    if (obj != nullptr) {
      FieldReader o(*obj, pr.path("MQTTServerCertificate"));
      EVG_RETURN_IF_ERROR(
          keyPathField(o, "privateKeyPath", c->root_dir, false, &cr.mqtt_server_key_path));
      addUnknown(c, o);
    }
    EVG_RETURN_IF_ERROR(pr.object("SecretsManager", &obj));
    if (obj != nullptr) {
      FieldReader o(*obj, pr.path("SecretsManager"));
      EVG_RETURN_IF_ERROR(
          keyPathField(o, "privateKeyPath", c->root_dir, true, &cr.secrets_key_path));
      addUnknown(c, o);
    }
    addUnknown(c, pr);
  }
  addUnused(c, r, {"PKCS11"});
  addUnknown(c, r);
  return Status::ok();
}

Status parseEvergreenMqtt(const json& j, const std::string& path, MqttOptions* m) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.integer("plaintextPort", 0, 65535, &m->plaintext_port));
  EVG_RETURN_IF_ERROR(r.nonEmptyString("bindAddress", &m->bind_address));
  {
    unsigned char buf[16];
    if (inet_pton(AF_INET, m->bind_address.c_str(), buf) != 1 &&
        inet_pton(AF_INET6, m->bind_address.c_str(), buf) != 1) {
      return fieldError(r.path("bindAddress"), "expected an IPv4 or IPv6 address, got " +
                                                   describeJson(json(m->bind_address)));
    }
  }
  EVG_RETURN_IF_ERROR(r.boolean("openBroker", &m->open_broker));
  EVG_RETURN_IF_ERROR(r.stringArray("denyList", &m->deny_list));
  for (size_t i = 0; i < m->deny_list.size(); ++i) {
    Status s = mqtt::validateTopicFilter(m->deny_list[i]);
    if (!s) {
      return fieldError(r.path("denyList") + "[" + std::to_string(i) + "]",
                        "'" + m->deny_list[i] + "' is not a valid topic filter: " + s.message());
    }
  }
  EVG_RETURN_IF_ERROR(r.integer("maxConnections", 1, 1000000, &m->max_connections));
  EVG_RETURN_IF_ERROR(r.integer("maxPayloadBytes", 1, 268435455, &m->max_payload_bytes));
  EVG_RETURN_IF_ERROR(r.integer("maxQueuedPerClient", 1, 10000000, &m->max_queued_per_client));
  EVG_RETURN_IF_ERROR(r.integer("maxInflightPerClient", 1, 65535, &m->max_inflight_per_client));
  EVG_RETURN_IF_ERROR(
      r.integer("maxSubscriptionsPerClient", 1, 1000000, &m->max_subscriptions_per_client));
  EVG_RETURN_IF_ERROR(r.integer("maxRetained", 0, 10000000, &m->max_retained));
  EVG_RETURN_IF_ERROR(r.integer("maxRetainedBytes", 0, INT64_MAX, &m->max_retained_bytes));
  EVG_RETURN_IF_ERROR(
      r.integer("maxQueuedBytesPerClient", 1024, INT64_MAX, &m->max_queued_bytes_per_client));
  EVG_RETURN_IF_ERROR(r.boolean("persistence", &m->persistence));
  EVG_RETURN_IF_ERROR(r.string("persistencePath", &m->persistence_path));
  EVG_RETURN_IF_ERROR(
      r.integer("persistenceFlushIntervalMs", 0, 1000, &m->persistence_flush_interval_ms));
  EVG_RETURN_IF_ERROR(r.integer("coalesceInputMicros", 0, 10000, &m->coalesce_input_micros));
  EVG_RETURN_IF_ERROR(r.integer("coalesceAfterWakeups", 1, 1000, &m->coalesce_after_wakeups));
  return r.rejectUnknown();
}

Status parseEvergreenLog(const json& j, const std::string& path, LogConfig* l) {
  FieldReader r(j, path);
  std::string level;
  EVG_RETURN_IF_ERROR(r.nonEmptyString("level", &level));
  if (!level.empty()) {
    auto lv = parseLogLevel(level);
    if (!lv) {
      return fieldError(r.path("level"),
                        "expected one of \"TRACE\", \"DEBUG\", \"INFO\", \"WARN\", \"ERROR\", "
                        "\"FATAL\", got " +
                            describeJson(json(level)));
    }
    l->level = *lv;
  }
  EVG_RETURN_IF_ERROR(r.integer("maxFileBytes", 1024, INT64_MAX, &l->max_file_bytes));
  EVG_RETURN_IF_ERROR(r.integer("keepFiles", 0, 100, &l->keep_files));
  EVG_RETURN_IF_ERROR(r.boolean("stderr", &l->to_stderr));
  return r.rejectUnknown();
}

Status parseEvergreenCloud(const json& j, const std::string& path, CloudConfig* cl) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.boolean("enabled", &cl->enabled));
  EVG_RETURN_IF_ERROR(r.boolean("plaintext", &cl->plaintext));
  EVG_RETURN_IF_ERROR(r.string("host", &cl->host));
  EVG_RETURN_IF_ERROR(r.integer("port", 0, 65535, &cl->port));
  EVG_RETURN_IF_ERROR(r.integer("maxInflight", 1, 65535, &cl->max_inflight));
  EVG_RETURN_IF_ERROR(r.string("storageType", &cl->storage_type));
  if (cl->storage_type != "Memory" && cl->storage_type != "FileSystem") {
    return fieldError(r.path("storageType"), "expected \"Memory\" or \"FileSystem\", got " +
                                                 describeJson(json(cl->storage_type)));
  }
  EVG_RETURN_IF_ERROR(r.integer("maxSizeBytes", 262144, INT64_MAX, &cl->max_size_bytes));
  EVG_RETURN_IF_ERROR(r.string("spoolPath", &cl->spool_path));
  EVG_RETURN_IF_ERROR(r.integer("flushIntervalMs", 1, 1000, &cl->flush_interval_ms));
  std::string sync = cl->sync_full ? "full" : "normal";
  EVG_RETURN_IF_ERROR(r.string("sync", &sync));
  if (sync != "normal" && sync != "full") {
    return fieldError(r.path("sync"),
                      "expected \"normal\" or \"full\", got " + describeJson(json(sync)));
  }
  cl->sync_full = sync == "full";
  std::string quality = cl->persistent_subscriptions ? "AtLeastOncePersistent" : "AtMostOnce";
  EVG_RETURN_IF_ERROR(r.string("subscriptionQuality", &quality));
  if (quality != "AtMostOnce" && quality != "AtLeastOncePersistent") {
    return fieldError(
        r.path("subscriptionQuality"),
        "expected \"AtMostOnce\" or \"AtLeastOncePersistent\", got " + describeJson(json(quality)));
  }
  cl->persistent_subscriptions = quality == "AtLeastOncePersistent";
  return r.rejectUnknown();
}

Status parseEvergreenJobs(const json& j, const std::string& path, JobsConfig* o) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.boolean("enabled", &o->enabled));
  EVG_RETURN_IF_ERROR(r.integer("requestTimeoutMs", 100, 600000, &o->request_timeout_ms));
  EVG_RETURN_IF_ERROR(r.integer("maxAttempts", 1, 1000, &o->max_attempts));
  EVG_RETURN_IF_ERROR(r.integer("retryBaseMs", 10, 600000, &o->retry_base_ms));
  EVG_RETURN_IF_ERROR(r.integer("retryMaxMs", 10, 3600000, &o->retry_max_ms));
  EVG_RETURN_IF_ERROR(r.integer("maxArtifactBytes", 1, INT64_MAX, &o->max_artifact_bytes));
  EVG_RETURN_IF_ERROR(r.integer("downloadAttempts", 1, 100, &o->download_attempts));
  EVG_RETURN_IF_ERROR(r.integer("urlRefreshes", 0, 100, &o->url_refreshes));
  EVG_RETURN_IF_ERROR(r.integer("downloadTimeoutMs", 1000, 3600000, &o->download_timeout_ms));
  EVG_RETURN_IF_ERROR(r.string("caFile", &o->ca_file));
  EVG_RETURN_IF_ERROR(r.integer("maxHandled", 1, 100000, &o->max_handled));
  return r.rejectUnknown();
}

Status parseEvergreenRuntime(const json& j, const std::string& path, EvergreenRuntimeOptions* o) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.boolean("containerLimitsMandatory", &o->container_limits_mandatory));
  EVG_RETURN_IF_ERROR(r.integer("containerTmpSizeMb", 1, 65536, &o->container_tmp_size_mb));
  EVG_RETURN_IF_ERROR(r.integer("containerPidsMax", 8, 1 << 22, &o->container_pids_max));
  EVG_RETURN_IF_ERROR(r.integer("maxWorkQueueBytes", 1024, INT64_MAX, &o->max_work_queue_bytes));
  EVG_RETURN_IF_ERROR(r.boolean("restartFunctionsOnDeploy", &o->restart_functions_on_deploy));
  EVG_RETURN_IF_ERROR(r.integer("standbyWorkers", 0, 1024, &o->standby_workers));
  EVG_RETURN_IF_ERROR(r.boolean("trimStartupPages", &o->trim_startup_pages));
  EVG_RETURN_IF_ERROR(r.integer("trimIdlePagesSeconds", 0, 86400, &o->trim_idle_pages_seconds));
  std::vector<std::pair<std::string, std::string>> interp;
  EVG_RETURN_IF_ERROR(r.stringMap("interpreters", &interp));
  for (const auto& [id, exe] : interp) {
    if (id.empty() || exe.empty() || exe[0] != '/') {
      return fieldError(r.path("interpreters") + "." + id,
                        "expected an absolute interpreter path, got " + describeJson(json(exe)));
    }
    o->interpreters[id] = exe;
  }
  return r.rejectUnknown();
}

Status parseEvergreenMetrics(const json& j, const std::string& path, MetricsConfig* m) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.integer("port", 0, 65535, &m->port));
  EVG_RETURN_IF_ERROR(r.nonEmptyString("bindAddress", &m->bind_address));
  {
    in_addr a4{};
    in6_addr a6{};
    bool loopback = false;
    if (inet_pton(AF_INET, m->bind_address.c_str(), &a4) == 1) {
      loopback = (ntohl(a4.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, m->bind_address.c_str(), &a6) == 1) {
      loopback = IN6_IS_ADDR_LOOPBACK(&a6);
    }
    if (!loopback) {
      return fieldError(r.path("bindAddress"),
                        "expected a loopback address (127.0.0.0/8 or ::1; the endpoint has no "
                        "authentication), got " +
                            describeJson(json(m->bind_address)));
    }
  }
  EVG_RETURN_IF_ERROR(r.integer("maxConnections", 1, 1024, &m->max_connections));
  return r.rejectUnknown();
}

Status parseEvergreenFunctions(const json& j, const std::string& path, FunctionStoreLimits* o) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.integer("maxZipBytes", 1, INT64_MAX, &o->max_zip_bytes));
  EVG_RETURN_IF_ERROR(r.integer("maxUnpackedBytes", 1, INT64_MAX, &o->max_unpacked_bytes));
  EVG_RETURN_IF_ERROR(r.integer("maxEntries", 1, INT64_MAX, &o->max_entries));
  EVG_RETURN_IF_ERROR(r.integer("keepVersions", 0, 10000, &o->keep_versions));
  return r.rejectUnknown();
}

Status parseEvergreenDeployments(const json& j, const std::string& path, DeploymentsConfig* o) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.integer("maxHistory", 1, 10000, &o->max_history));
  return r.rejectUnknown();
}

Status parseEvergreenDiscovery(const json& j, const std::string& path, DiscoveryConfig* d) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.integer("port", 0, 65535, &d->port));
  EVG_RETURN_IF_ERROR(r.nonEmptyString("bindAddress", &d->bind_address));
  EVG_RETURN_IF_ERROR(r.string("groupId", &d->group_id));
  const json* list = nullptr;
  EVG_RETURN_IF_ERROR(r.array("connectivity", &list));
  for (size_t i = 0; list != nullptr && i < list->size(); ++i) {
    std::string at = r.path("connectivity") + "[" + std::to_string(i) + "]";
    if (!(*list)[i].is_object()) return fieldError(at, "expected an object");
    FieldReader e((*list)[i], at);
    ConnectivityEntry c;
    EVG_RETURN_IF_ERROR(e.nonEmptyString("HostAddress", &c.host_address));
    if (c.host_address.empty()) return fieldError(e.path("HostAddress"), "required");
    EVG_RETURN_IF_ERROR(e.integer("PortNumber", 0, 65535, &c.port));
    EVG_RETURN_IF_ERROR(e.string("Id", &c.id));
    EVG_RETURN_IF_ERROR(e.string("Metadata", &c.metadata));
    if (c.id.empty()) c.id = c.host_address;
    EVG_RETURN_IF_ERROR(e.rejectUnknown());
    d->connectivity.push_back(std::move(c));
  }
  return r.rejectUnknown();
}

Status parseEvergreenCerts(const json& j, const std::string& path, CertsConfig* c) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.integer("serverValidityDays", 2, 3650, &c->server_validity_days));
  EVG_RETURN_IF_ERROR(r.integer("serverRenewBeforeDays", 1, 3649, &c->server_renew_before_days));
  if (c->server_renew_before_days >= c->server_validity_days) {
    return fieldError(
        r.path("serverRenewBeforeDays"),
        "must be less than serverValidityDays (" + std::to_string(c->server_validity_days) + ")");
  }
  EVG_RETURN_IF_ERROR(r.integer("checkIntervalSeconds", 10, 86400, &c->check_interval_s));
  EVG_RETURN_IF_ERROR(r.string("importedServerCertUntil", &c->imported_server_cert_until));
  if (const std::string& d = c->imported_server_cert_until; !d.empty()) {
    bool ok = d.size() == 10 && d[4] == '-' && d[7] == '-';
    for (size_t i = 0; ok && i < d.size(); ++i) {
      if (i != 4 && i != 7) ok = std::isdigit(static_cast<unsigned char>(d[i])) != 0;
    }
    if (!ok) {
      return fieldError(r.path("importedServerCertUntil"),
                        "expected a date YYYY-MM-DD, got " + describeJson(json(d)));
    }
  }
  return r.rejectUnknown();
}

Status parseEvergreenIpc(const json& j, const std::string& path, IpcConfig* o) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.integer("maxConnections", 1, 1000000, &o->max_connections));
  EVG_RETURN_IF_ERROR(r.integer("maxConnectionsPerPeer", 1, 1000000, &o->max_connections_per_peer));
  EVG_RETURN_IF_ERROR(r.integer("headerTimeoutMs", 100, 3600000, &o->header_timeout_ms));
  EVG_RETURN_IF_ERROR(r.integer("idleTimeoutMs", 100, 86400000, &o->idle_timeout_ms));
  EVG_RETURN_IF_ERROR(r.integer("bodyTimeoutMs", 100, 3600000, &o->body_timeout_ms));
  return r.rejectUnknown();
}

Status parseEvergreenStreamManager(const json& j, const std::string& path, StreamManagerConfig* o) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.integer("maxConnections", 1, 100000, &o->max_connections));
  EVG_RETURN_IF_ERROR(r.integer("maxFrameBytes", 1024, 1 << 30, &o->max_frame_bytes));
  EVG_RETURN_IF_ERROR(r.integer("maxMessageBytes", 1, 1 << 30, &o->max_message_bytes));
  EVG_RETURN_IF_ERROR(r.integer("maxReadTimeoutMs", 0, 2000000000, &o->max_read_timeout_ms));
  EVG_RETURN_IF_ERROR(
      r.integer("maxPendingReadsPerConnection", 1, 100000, &o->max_pending_reads_per_connection));
  EVG_RETURN_IF_ERROR(r.integer("maxStreams", 1, 1000000, &o->max_streams));
  EVG_RETURN_IF_ERROR(r.integer("syncIntervalMs", 10, 3600000, &o->sync_interval_ms));
  EVG_RETURN_IF_ERROR(r.string("region", &o->export_region));
  EVG_RETURN_IF_ERROR(r.stringMap("endpoints", &o->export_endpoints));
  for (const auto& [k, v] : o->export_endpoints) {
    if (k != "kinesis" && k != "iotanalytics" && k != "iotsitewise" && k != "s3") {
      return fieldError(r.path("endpoints") + "." + k,
                        "unknown service (kinesis, iotanalytics, iotsitewise, s3)");
    }
    if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
      return fieldError(r.path("endpoints") + "." + k,
                        "expected an http:// or https:// URL, got " + describeJson(json(v)));
    }
  }
  EVG_RETURN_IF_ERROR(r.integer("exportRetryMaxMs", 100, 3600000, &o->export_retry_max_ms));
  return r.rejectUnknown();
}

Status parseEvergreenTes(const json& j, const std::string& path, TesConfig* t) {
  FieldReader r(j, path);
  EVG_RETURN_IF_ERROR(r.string("credentialsEndpoint", &t->credentials_endpoint));
  EVG_RETURN_IF_ERROR(r.string("roleAlias", &t->role_alias));
  EVG_RETURN_IF_ERROR(r.integer("refreshMarginSeconds", 300, 43200, &t->refresh_margin_s));
  EVG_RETURN_IF_ERROR(r.integer("requestTimeoutMs", 100, 120000, &t->request_timeout_ms));
  EVG_RETURN_IF_ERROR(r.integer("retryInitialMs", 10, 600000, &t->retry_initial_ms));
  EVG_RETURN_IF_ERROR(r.integer("retryMaxMs", 10, 3600000, &t->retry_max_ms));
  EVG_RETURN_IF_ERROR(r.integer("serveWaitMs", 0, 60000, &t->serve_wait_ms));
  EVG_RETURN_IF_ERROR(r.integer("maxWaiting", 1, 1000000, &t->max_waiting));
  for (char c : t->role_alias) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("=,@-_").find(c) == std::string_view::npos) {
      return fieldError(r.path("roleAlias"), "expected 1-128 characters of [A-Za-z0-9=,@_-], got " +
                                                 describeJson(json(t->role_alias)));
    }
  }
  if (t->role_alias.size() > 128) {
    return fieldError(r.path("roleAlias"), "longer than 128 characters");
  }
  if (t->credentials_endpoint.empty() != t->role_alias.empty()) {
    return fieldError(r.path(t->role_alias.empty() ? "roleAlias" : "credentialsEndpoint"),
                      "credentialsEndpoint and roleAlias must be set together");
  }
  if (t->retry_max_ms < t->retry_initial_ms) {
    return fieldError(r.path("retryMaxMs"), "must be >= retryInitialMs");
  }
  return r.rejectUnknown();
}

Status parseEvergreen(const json& j, EvergreenConfig* e) {
  FieldReader r(j, "evergreen");
  const json* obj = nullptr;
  EVG_RETURN_IF_ERROR(r.object("mqtt", &obj));
  if (obj != nullptr) EVG_RETURN_IF_ERROR(parseEvergreenMqtt(*obj, r.path("mqtt"), &e->mqtt));
  EVG_RETURN_IF_ERROR(r.object("ipc", &obj));
  if (obj != nullptr) EVG_RETURN_IF_ERROR(parseEvergreenIpc(*obj, r.path("ipc"), &e->ipc));
  EVG_RETURN_IF_ERROR(r.object("log", &obj));
  if (obj != nullptr) EVG_RETURN_IF_ERROR(parseEvergreenLog(*obj, r.path("log"), &e->log));
  EVG_RETURN_IF_ERROR(r.object("certs", &obj));
  if (obj != nullptr) EVG_RETURN_IF_ERROR(parseEvergreenCerts(*obj, r.path("certs"), &e->certs));
  EVG_RETURN_IF_ERROR(r.object("discovery", &obj));
  if (obj != nullptr) {
    EVG_RETURN_IF_ERROR(parseEvergreenDiscovery(*obj, r.path("discovery"), &e->discovery));
  }
  EVG_RETURN_IF_ERROR(r.object("cloud", &obj));
  if (obj != nullptr) EVG_RETURN_IF_ERROR(parseEvergreenCloud(*obj, r.path("cloud"), &e->cloud));
  EVG_RETURN_IF_ERROR(r.object("jobs", &obj));
  if (obj != nullptr) EVG_RETURN_IF_ERROR(parseEvergreenJobs(*obj, r.path("jobs"), &e->jobs));
  EVG_RETURN_IF_ERROR(r.object("metrics", &obj));
  if (obj != nullptr) {
    EVG_RETURN_IF_ERROR(parseEvergreenMetrics(*obj, r.path("metrics"), &e->metrics));
  }
  EVG_RETURN_IF_ERROR(r.object("runtime", &obj));
  if (obj != nullptr) {
    EVG_RETURN_IF_ERROR(parseEvergreenRuntime(*obj, r.path("runtime"), &e->runtime));
  }
  EVG_RETURN_IF_ERROR(r.object("functions", &obj));
  if (obj != nullptr) {
    EVG_RETURN_IF_ERROR(parseEvergreenFunctions(*obj, r.path("functions"), &e->functions));
  }
  EVG_RETURN_IF_ERROR(r.object("streamManager", &obj));
  if (obj != nullptr) {
    EVG_RETURN_IF_ERROR(
        parseEvergreenStreamManager(*obj, r.path("streamManager"), &e->stream_manager));
  }
  EVG_RETURN_IF_ERROR(r.object("tes", &obj));
  if (obj != nullptr) EVG_RETURN_IF_ERROR(parseEvergreenTes(*obj, r.path("tes"), &e->tes));
  EVG_RETURN_IF_ERROR(r.object("deployments", &obj));
  if (obj != nullptr) {
    EVG_RETURN_IF_ERROR(parseEvergreenDeployments(*obj, r.path("deployments"), &e->deployments));
  }
  return r.rejectUnknown();
}

}  // namespace

Result<std::string> resolveKeyPath(const std::string& value, const std::string& root_dir,
                                   const std::string& path) {
  if (value.rfind("pkcs11:", 0) == 0) {
    return Status::unsupported(path +
                               ": pkcs11: URIs (HSM-held keys) are not supported; use a file:// "
                               "URI or a plain path, got " +
                               describeJson(json(value)));
  }
  std::string p = value;
  if (value.rfind("file://", 0) == 0) {
    std::string rest = value.substr(7);
    // file:///abs/path or file://localhost/abs/path.
    if (rest.rfind("localhost/", 0) == 0) rest = rest.substr(9);
    if (rest.empty() || rest[0] != '/') {
      return Status::invalid(path + ": file URI must be file:///absolute/path, got " +
                             describeJson(json(value)));
    }
    // Percent-decoding.
    p.clear();
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == '%' && i + 2 < rest.size() &&
          std::isxdigit(static_cast<unsigned char>(rest[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(rest[i + 2]))) {
        p += static_cast<char>(std::stoi(rest.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        p += rest[i];
      }
    }
  } else {
    auto colon = value.find(':');
    auto slash = value.find('/');
    if (colon != std::string::npos && (slash == std::string::npos || colon < slash)) {
      return Status::invalid(path + ": expected a file:// URI or a path, got " +
                             describeJson(json(value)));
    }
  }
  return resolveAgainst(p, root_dir);
}

Result<CoreConfig> parseConfig(const json& j, const std::string& root_dir) {
  EVG_RETURN_IF_ERROR(requireObject(j, ""));
  CoreConfig c;
  c.root_dir = root_dir;
  FieldReader r(j, "");
  const json* core = nullptr;
  const json* crypto = nullptr;
  EVG_RETURN_IF_ERROR(r.object("coreThing", &core, true));
  EVG_RETURN_IF_ERROR(r.object("crypto", &crypto));
  EVG_RETURN_IF_ERROR(parseCoreThing(*core, &c, crypto != nullptr));
  if (crypto != nullptr) EVG_RETURN_IF_ERROR(parseCrypto(*crypto, &c));

  const json* obj = nullptr;
  EVG_RETURN_IF_ERROR(r.object("runtime", &obj));
  if (obj != nullptr) EVG_RETURN_IF_ERROR(parseRuntime(*obj, &c));

  EVG_RETURN_IF_ERROR(r.boolean("managedRespawn", &c.managed_respawn));
  EVG_RETURN_IF_ERROR(r.nonEmptyString("writeDirectory", &c.write_directory));
  c.write_directory =
      c.write_directory.empty() ? root_dir : resolveAgainst(c.write_directory, root_dir);
  EVG_RETURN_IF_ERROR(r.nonEmptyString("pidFileDirectory", &c.pid_file_directory));
  c.pid_file_directory = resolveAgainst(c.pid_file_directory, root_dir);
  EVG_RETURN_IF_ERROR(r.integer("mqttMaxConnectionRetryInterval", 0, kMaxInt,
                                &c.mqtt_max_connection_retry_interval_s));
  EVG_RETURN_IF_ERROR(r.object("system", &obj));
  if (obj != nullptr) {
    FieldReader s(*obj, "system");
    EVG_RETURN_IF_ERROR(s.integer("shadowSyncTimeout", 1, kMaxInt, &c.shadow_sync_timeout_s));
    addUnknown(&c, s);
  }
  EVG_RETURN_IF_ERROR(r.object("evergreen", &obj));
  if (obj != nullptr) EVG_RETURN_IF_ERROR(parseEvergreen(*obj, &c.evergreen));

  const CloudConfig& cl = c.evergreen.cloud;
  if (!cl.spool_path.empty()) {
    c.evergreen.cloud.spool_path = resolveAgainst(cl.spool_path, root_dir);
  }
  if (!c.evergreen.mqtt.persistence_path.empty()) {
    c.evergreen.mqtt.persistence_path = resolveAgainst(c.evergreen.mqtt.persistence_path, root_dir);
  }
  if (!c.evergreen.jobs.ca_file.empty()) {
    c.evergreen.jobs.ca_file = resolveAgainst(c.evergreen.jobs.ca_file, root_dir);
  }
  if (c.evergreen.jobs.enabled && !cl.enabled) {
    return fieldError("evergreen.jobs.enabled",
                      "IoT Jobs need the cloud connection: set evergreen.cloud.enabled too");
  }
  if (cl.enabled && cl.host.empty() && c.core_thing.iot_host.empty()) {
    return fieldError("evergreen.cloud.enabled",
                      "cloud is enabled but neither evergreen.cloud.host nor coreThing.iotHost is "
                      "set");
  }
  addUnused(&c, r, {"managedRespawn"});
  addUnknown(&c, r);
  return c;
}

Result<CoreConfig> loadConfigFile(const std::string& path, const std::string& root_dir) {
  auto j = readJsonFile(path);
  if (!j) return j.status();
  std::string root = root_dir;
  if (root.empty()) {
    std::filesystem::path dir = std::filesystem::absolute(path).parent_path();
    root = dir.filename() == "config" ? dir.parent_path().string() : dir.string();
  }
  auto c = parseConfig(*j, root);
  if (!c) return Status(c.status().code(), path + ": " + c.status().message());
  return c;
}

json defaultConfigJson(const DefaultConfigOptions& o) {
  json j = {
      {"coreThing",
       {{"caPath", "root.ca.pem"},
        {"certPath", "core.cert.pem"},
        {"keyPath", "core.private.key"},
        {"thingArn", "arn:aws:iot:" + o.region + ":" + o.account + ":thing/" + o.thing_name},
        {"iotHost", ""},
        {"ggHost", ""},
        {"keepAlive", 600},
        {"ggMqttPort", 8883},
        {"ggDaemonPort", 8000}}},
      {"runtime",
       {{"maxWorkItemCount", 1024},
        {"maxConcurrentLimit", 25},
        {"lruSize", 25},
        {"allowFunctionsToRunAsRoot", "no"},
        {"cgroup", {{"useSystemd", "yes"}}}}},
      {"managedRespawn", false},
      {"crypto",
       {{"caPath", "certs/root.ca.pem"},
        {"principals",
         {{"IoTCertificate",
           {{"privateKeyPath", "certs/core.private.key"},
            {"certificatePath", "certs/core.cert.pem"}}},
          {"MQTTServerCertificate", {{"privateKeyPath", "certs/server.private.key"}}},
          {"SecretsManager", {{"privateKeyPath", "certs/core.private.key"}}}}}}},
      {"evergreen",
       {{"mqtt",
         {{"plaintextPort", o.plaintext_port},
          {"bindAddress", "0.0.0.0"},
          {"openBroker", false},
          {"denyList", json::array()},
          {"maxConnections", 1024},
          {"maxPayloadBytes", 131072},
          {"maxQueuedPerClient", 1000},
          {"maxInflightPerClient", 20},
          {"maxSubscriptionsPerClient", 100},
          {"maxRetained", 10000}}},
        {"ipc",
         {{"maxConnections", 1024},
          {"maxConnectionsPerPeer", 512},
          {"headerTimeoutMs", 10000},
          {"idleTimeoutMs", 120000},
          {"bodyTimeoutMs", 30000}}},
        {"log", {{"level", "INFO"}, {"maxFileBytes", 131072}, {"keepFiles", 1}, {"stderr", true}}},
        {"cloud", {{"enabled", false}, {"plaintext", false}}}}}};
  return j;
}

}  // namespace evg::config
