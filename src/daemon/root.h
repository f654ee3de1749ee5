#pragma once
// The core's root directory (`evergreen run --root DIR`) and everything under it:
//
//   DIR/config/config.json          v1 config.json (+ "evergreen" extension block)
//   DIR/certs/                      group CA, core server cert for the local MQTT TLS listener
//   DIR/certs/devices/              device certs issued by `evergreen certs issue-device`
//   DIR/certs/revoked.txt           revoked device certificate fingerprints (optional)
//   DIR/deployment/group/group.json the active group (written atomically on every deploy)
//   DIR/functions/                  function store (versions, aliases, code)
//   DIR/var/log/system/             core logs, one rotated file per component
//   DIR/var/log/user/<region>/<account>/<function>.log
//   DIR/var/run/evergreen.sock      control socket (deploy, status, reload)
//   DIR/var/shadow/shadows.db       local shadows (SQLite WAL)
//   DIR/var/secrets/secrets.json    encrypted secrets (AES-256-GCM, wrapped data key; 0600)
//   DIR/certs/secrets.key           RSA key wrapping the secrets' data key when the core key
//                                   is not RSA
//   DIR/var/deployments/            deployment history + kept groups (deploy_history.h)
//   DIR/var/spool/cloud.db          durable cloud spool (SQLite WAL; evergreen.cloud.spoolPath)

#include <string>
#include <vector>

#include "base/status.h"

namespace evg::daemon {

struct RootPaths {
  std::string root;
  std::string config_file;
  std::string certs_dir;
  std::string device_certs_dir;
  std::string revoked_file;
  std::string group_file;
  std::string functions_dir;
  std::string system_log_dir;
  std::string user_log_dir;
  std::string run_dir;
  std::string control_socket;
  std::string shadow_db;      // DIR/var/shadow/shadows.db
  std::string resources_dir;  // DIR/resources (ML model resources: DIR/resources/<ResourceId>/)

  static RootPaths of(const std::string& root);
};

// Creates what is missing for a working default core: directories, config/config.json (only if
// absent), the group CA and the core's server certificate. Returns a line per item created.
Result<std::vector<std::string>> initRoot(const RootPaths& paths);

// Writes `data` to `path` atomically (temp file + fsync + rename), creating parent directories.
Status writeFileAtomic(const std::string& path, const std::string& data, unsigned mode = 0644);
Result<std::string> readFile(const std::string& path);

}  // namespace evg::daemon
