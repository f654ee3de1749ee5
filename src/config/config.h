#pragma once
// CoreConfig: the Greengrass v1 config.json (<root>/config/config.json) plus the Evergreen
// extension block "evergreen". A real v1 config.json loads unchanged. Fields Evergreen accepts but
// does not act on (and unknown keys) are listed in CoreConfig::unused_fields so the daemon can
// report them once. See src/config/README.md for every key, its default and its range.
//
// Errors: one Invalid status naming the JSON path and the problem, e.g.
//   coreThing.ggMqttPort: expected integer 1024-65535, got "abc"
// pkcs11: key URIs yield Unsupported naming the path. No exceptions escape.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/status.h"

namespace evg::config {

struct NetworkProxy {
  std::string no_proxy_addresses;  // "noProxyAddresses", comma separated
  std::string url;                 // "proxy.url": http[s]://host:port
  std::string username;            // "proxy.username"
  std::string password;            // "proxy.password"
};

struct CoreThingConfig {
  std::string thing_arn;   // arn:<partition>:iot:<region>:<account>:thing/<name> (required)
  std::string thing_name;  // derived from thing_arn
  std::string region;      // derived from thing_arn
  std::string account;     // derived from thing_arn
  std::string iot_host;    // cloud endpoint (optional locally)
  std::string gg_host;
  int iot_mqtt_port = 8883;  // 8883 or 443
  int iot_http_port = 8443;  // 8443 or 443
  int gg_mqtt_port = 8883;   // local MQTT (TLS) listener, 1024-65535
  int gg_http_port = 8443;   // 8443 or 443
  int keep_alive_s = 600;    // 30-1200
  std::optional<NetworkProxy> network_proxy;
  int mqtt_operation_timeout_s = 5;             // >= 5
  int gg_daemon_port = 8000;                    // local IPC HTTP port, 1024-65535
  int system_component_auth_timeout_ms = 5000;  // 500-5000
};

struct RuntimeConfig {
  int max_work_item_count = 1024;  // work items past the limit are dropped
  int max_concurrent_limit = 25;   // concurrent unpinned workers
  int lru_size = 25;
  bool allow_functions_to_run_as_root = false;  // "yes"/"no"
  bool mount_all_block_devices = false;         // "yes"/"no"
  int post_start_health_check_timeout_ms = 30000;
  bool cgroup_use_systemd = true;  // runtime.cgroup.useSystemd "yes"/"no"
};

// Effective key material, as plain filesystem paths (absolute, or resolved against the root dir).
// Taken from the crypto block when present, else from the legacy coreThing caPath/certPath/keyPath
// (which v1 resolves against <root>/certs). Empty = not configured.
struct CryptoConfig {
  bool from_crypto_block = false;    // false: legacy coreThing paths were used
  std::string ca_path;               // AWS IoT root CA
  std::string core_cert_path;        // IoTCertificate.certificatePath
  std::string core_key_path;         // IoTCertificate.privateKeyPath
  std::string mqtt_server_key_path;  // MQTTServerCertificate.privateKeyPath (optional)
  std::string secrets_key_path;      // SecretsManager.privateKeyPath
};

// "evergreen.mqtt": the embedded broker.
struct MqttOptions {
  int plaintext_port = 0;                // 0 = off; binds 127.0.0.1 only; insecure dev listener
  std::string bind_address = "0.0.0.0";  // TLS listener (port = coreThing.ggMqttPort)
  bool open_broker = false;  // true: any local client may publish/subscribe except denyList
  std::vector<std::string> deny_list;  // topic filters refused in open mode
  int max_connections = 1024;
  int max_payload_bytes = 131072;  // v1: 128 KB per message
  int max_queued_per_client = 1000;
  int max_inflight_per_client = 20;
  int max_subscriptions_per_client = 100;
  int max_retained = 10000;
  int64_t max_retained_bytes = 33554432;  // topic + payload bytes of retained messages
  int64_t max_queued_bytes_per_client =
      16777216;                  // bytes a client's session holds (queue+inflight)
  bool persistence = true;       // persistent sessions + retained messages survive a restart
  std::string persistence_path;  // default <writeDirectory>/var/spool/broker.db
  int persistence_flush_interval_ms = 10;  // group commit delay: bounds what a kill -9 loses
  int coalesce_input_micros = 30;  // under sustained load, batches of input at most this often
  int coalesce_after_wakeups = 8;  // ... once this many quick wake-ups came in a row
};

// "evergreen.log".
struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  int64_t max_file_bytes = 131072;
  int keep_files = 1;
  bool to_stderr = true;
};

// "evergreen.cloud": the upstream AWS IoT connection and the cloud spooler (src/cloud, src/spool).
// The v1 GGCloudSpooler env vars on the group's function entry override the spool settings here.
struct CloudConfig {
  bool enabled = false;
  bool plaintext = false;                   // test only: MQTT without TLS to host:port
  std::string host;                         // default coreThing.iotHost
  int port = 0;                             // 0 = coreThing.iotMqttPort
  int max_inflight = 100;                   // QoS 1 publishes in flight (AWS IoT Core's limit)
  std::string storage_type = "FileSystem";  // "Memory" | "FileSystem" (GG_CONFIG_STORAGE_TYPE)
  int64_t max_size_bytes = 2621440;         // >= 262144 (GG_CONFIG_MAX_SIZE_BYTES)
  std::string spool_path;                   // default <writeDirectory>/var/spool/cloud.db
  int flush_interval_ms = 10;               // group commit interval, 1-1000
  bool sync_full = false;                   // "sync": "full" fsyncs every commit (power loss)
  bool persistent_subscriptions = false;    // "subscriptionQuality": "AtLeastOncePersistent"
};

// "evergreen.jobs": fleet deployments over AWS IoT Jobs (src/jobs, src/daemon/core_jobs.cc).
struct JobsConfig {
  bool enabled = false;            // needs evergreen.cloud.enabled
  int request_timeout_ms = 10000;  // reply wait per IoT Jobs request attempt
  int max_attempts = 10;           // tries per request (throttled, internal error, no reply)
  int retry_base_ms = 1000;        // backoff: base doubling, capped by retryMaxMs, jittered
  int retry_max_ms = 60000;
  int64_t max_artifact_bytes = 268435456;  // per downloaded artifact (function zip, group)
  int download_attempts = 3;               // HTTP tries per artifact (transport errors, 5xx, 429)
  int url_refreshes = 3;             // re-fetches of the document after a 403/400 (expired URL)
  int download_timeout_ms = 300000;  // whole response of one artifact
  std::string ca_file;               // trust anchors for artifact URLs; empty = system store
  int max_handled = 200;             // executions remembered in jobs-state.json
};

// "evergreen.runtime": GreengrassContainer isolation (src/container).
struct EvergreenRuntimeOptions {
  // true: refuse GreengrassContainer functions when a limit (memory, pids, devices) cannot be
  // enforced on this host; false: run them anyway (the missing limits are logged at start).
  bool container_limits_mandatory = false;
  int container_tmp_size_mb = 64;  // each container's private /tmp (tmpfs) and /dev/shm bound
  int container_pids_max = 512;    // pids limit per worker cgroup
  int64_t max_work_queue_bytes = 33554432;  // payload bytes queued per function (invokes)
  // Runtime id -> interpreter (absolute path), e.g. {"python3.7": "/opt/py37/bin/python3.7"}:
  // wins over the interpreter Evergreen would choose (src/supervisor/runtime_command.h).
  std::map<std::string, std::string> interpreters;
  // v1 restarted every function (pinned ones included) on each deployment; Evergreen keeps the
  // workers of functions a deployment leaves unchanged. true: v1's behaviour.
  bool restart_functions_on_deploy = false;
  // Standby (pre-warmed) workers: each on-demand Python/Node.js/Java function keeps one worker
  // started ahead of its first invocation, at most this many in all; 0 = off.
  int standby_workers = 8;
  // Once started, unmap the read-only code and data pages (src/daemon/working_set.h): what the
  // core uses faults back in; -8 MB resident on an idle core. false: leave the mappings alone.
  bool trim_startup_pages = true;
  // With trim_startup_pages: every this many seconds, if the core used under 1 % of a CPU since
  // the last check and 256 KB or more of file pages came back since the last trim (a status
  // query, a deployment, a burst of traffic), trim again; 0 = only once after start.
  int trim_idle_pages_seconds = 30;
};

// "evergreen.metrics": GET /metrics (Prometheus) and /health on a loopback-only HTTP port
// (src/metrics). Off by default.
struct MetricsConfig {
  int port = 0;                            // 0 = off
  std::string bind_address = "127.0.0.1";  // must be a loopback address (127.0.0.0/8 or ::1)
  int max_connections = 16;                // concurrent scrapers; more are closed at accept
};

// "evergreen.functions": bounds of the function store's code packages (src/functions).
struct FunctionStoreLimits {
  int64_t max_zip_bytes = 268435456;       // zip package size
  int64_t max_unpacked_bytes = 268435456;  // total bytes of a zip's or code dir's files
  int64_t max_entries = 65536;             // files + directories + links
  int64_t keep_versions = 5;  // numbered versions kept per function after a deployment (0: all)
};

// "evergreen.deployments": the deployment history (src/daemon/deploy_history.h).
struct DeploymentsConfig {
  int max_history = 50;  // records (and kept groups) in DIR/var/deployments
};

// One address devices may use to reach this core (the Greengrass Discovery API's Connectivity).
struct ConnectivityEntry {
  std::string id;            // default: the address
  std::string host_address;  // IP address or DNS name
  int port = 0;              // 0 = coreThing.ggMqttPort
  std::string metadata;
};

// "evergreen.discovery": the local Greengrass Discovery endpoint (src/discovery) and the addresses
// the core's server certificate names (its subjectAltName holds every connectivity address).
struct DiscoveryConfig {
  int port = 0;                          // HTTPS port of the discovery endpoint; 0 = off
  std::string bind_address = "0.0.0.0";  // discovery listener
  std::string group_id;                  // GGGroupId answered; default: <thing name>-group
  // Empty: detected at start (the host's non-loopback addresses, then 127.0.0.1), like v1's
  // IP detector; the server certificate is re-issued when the set changes.
  std::vector<ConnectivityEntry> connectivity;
};

// "evergreen.certs": the lifecycle of Evergreen's own MQTT server certificate (v1 rotated it
// every 7-30 days). Checked every check_interval_s; renewed (new key) when fewer than
// server_renew_before_days remain or the connectivity addresses changed, and swapped in without
// dropping connected devices.
struct CertsConfig {
  // An imported Greengrass v1 server certificate (certs/v1-server.pem, evergreen import-v1) is
  // served until it expires or until this UTC date ("YYYY-MM-DD"; empty = its expiry), then
  // Evergreen's own.
  std::string imported_server_cert_until;
  int server_validity_days = 365;
  int server_renew_before_days = 30;
  int check_interval_s = 3600;
};

// "evergreen.ipc": the v1 IPC HTTP server on 127.0.0.1:ggDaemonPort (src/ipc/ipc_server.h).
struct IpcConfig {
  int max_connections = 1024;          // idle/incomplete connections are evicted first at the cap
  int max_connections_per_peer = 512;  // per client uid (loopback) or address
  int header_timeout_ms = 10000;       // request header complete after accept / first byte
  int idle_timeout_ms = 120000;        // keep-alive with no request in progress
  int body_timeout_ms = 30000;         // request body receive / response send
};

// "evergreen.streamManager": limits of the GGStreamManager module (src/streammgr). It is enabled
// by the group (function arn:aws:lambda:::function:GGStreamManager:1), not here.
struct StreamManagerConfig {
  int max_connections = 64;                   // client connections at once
  int max_frame_bytes = 64 << 20;             // one frame (L: op byte + CBOR)
  int max_message_bytes = 32 << 20;           // one appended payload
  int max_read_timeout_ms = 3600000;          // ReadMessages readTimeoutMillis
  int max_pending_reads_per_connection = 64;  // long-polling reads per connection
  int max_streams = 1000;                     // streams in the store
  int sync_interval_ms = 1000;                // group-commit fdatasync of File streams
  // Exporters (src/streammgr/export): the AWS region of the services (empty: the core thing's
  // region) and endpoint overrides by service (kinesis, iotanalytics, iotsitewise, s3).
  std::string export_region;
  std::vector<std::pair<std::string, std::string>> export_endpoints;
  int export_retry_max_ms = 60000;  // cap of the backoff while a service is down
};

// "evergreen.tes": AWS credentials for functions from the AWS IoT credentials provider (src/tes).
// Off while credentials_endpoint is empty.
struct TesConfig {
  std::string credentials_endpoint;  // host[:port] or https://host[:port] (iot:CredentialProvider)
  std::string role_alias;            // AWS IoT role alias
  int refresh_margin_s = 900;        // refresh this long before expiry (or at half-life)
  int request_timeout_ms = 10000;    // one fetch attempt
  int retry_initial_ms = 1000;       // backoff after a failed fetch, doubling, with jitter
  int retry_max_ms = 60000;
  int serve_wait_ms = 3000;  // E9 without valid credentials waits this long for a fetch
  int max_waiting = 1024;    // E9 requests waiting for a fetch
};

struct EvergreenConfig {
  MqttOptions mqtt;
  MetricsConfig metrics;
  DiscoveryConfig discovery;
  CertsConfig certs;
  IpcConfig ipc;
  StreamManagerConfig stream_manager;
  TesConfig tes;
  LogConfig log;
  CloudConfig cloud;
  JobsConfig jobs;
  EvergreenRuntimeOptions runtime;
  FunctionStoreLimits functions;
  DeploymentsConfig deployments;
};

struct CoreConfig {
  std::string root_dir;  // relative paths in the file resolve against this
  CoreThingConfig core_thing;
  RuntimeConfig runtime;
  CryptoConfig crypto;
  bool managed_respawn = false;
  std::string write_directory;  // resolved; default = root_dir
  std::string pid_file_directory = "/var/run";
  int mqtt_max_connection_retry_interval_s = 60;
  int shadow_sync_timeout_s = 5;  // system.shadowSyncTimeout
  EvergreenConfig evergreen;
  // JSON paths of fields present in the file that Evergreen accepts but ignores, and of unknown
  // keys (reported once at INFO by the daemon). Sorted within each object.
  std::vector<std::string> unused_fields;
};

// Parses a config.json document. `root_dir` resolves relative paths (empty: paths stay relative).
Result<CoreConfig> parseConfig(const nlohmann::json& j, const std::string& root_dir = "");

// Reads and parses `path`. `root_dir` empty: the parent of the file's directory when that directory
// is named "config" (the v1 layout <root>/config/config.json), else the file's directory.
// Errors: Io (unreadable), Invalid (syntax error with line/column, or a bad value), Unsupported.
Result<CoreConfig> loadConfigFile(const std::string& path, const std::string& root_dir = "");

// Options for a fresh config.json written into an empty root by `evergreen init`-style tooling.
struct DefaultConfigOptions {
  std::string thing_name = "EvergreenCore";
  std::string region = "us-east-1";
  std::string account = "000000000000";
  int plaintext_port = 0;  // evergreen.mqtt.plaintextPort
};

// A complete, valid v1-shaped config.json with relative key paths under certs/:
// certs/root.ca.pem, certs/core.cert.pem, certs/core.private.key, certs/server.private.key.
nlohmann::json defaultConfigJson(const DefaultConfigOptions& opts = {});

// Converts a file:// URI or plain path to a filesystem path resolved against root_dir.
// Errors: Unsupported for pkcs11: URIs, Invalid for other schemes or a file URI with a remote host.
// `path` names the field in error messages.
Result<std::string> resolveKeyPath(const std::string& value, const std::string& root_dir,
                                   const std::string& path);

}  // namespace evg::config
