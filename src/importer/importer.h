#pragma once
// importV1: turns a Greengrass v1 core's /greengrass tree into an Evergreen root, in place, on the
// same device (`evergreen import-v1`). The v1 tree is only read, never modified: going back to v1
// is stopping Evergreen and starting greengrassd again. See README.md for the flow and
// docs/migrate-from-v1.md for the cut-over.
//
// What is read (layout: shared/reference/v1-layout-and-iot-jobs.md part A):
//   <from>/config/config.json                   identity, ports, runtime settings
//   <write>/deployment/group/group.json         the last deployed group (tolerant reader)
//   <write>/deployment/lambda/<versioned ARN>/  unzipped function code (":" or "." spelling)
//   <write>/deployment/mlmodel/<dir>/           machine learning model resources
//   <write>/var/state/shadow/shadow.db          local shadows (when its schema is recognised)
//   <write>/var/state/server/server.crt (+key)  the local MQTT server certificate
// where <write> is config.json's writeDirectory, or <from>/ggc.
//
// Every element is either imported or listed with the reason it was not. The import is
// idempotent (a second run changes nothing) and `dry_run` writes nothing.

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::importer {

// Where the Evergreen root keeps what the importer writes (filled from daemon::RootPaths).
struct TargetPaths {
  std::string root;
  std::string config_file;    // <root>/config/config.json
  std::string certs_dir;      // <root>/certs
  std::string group_file;     // <root>/deployment/group/group.json
  std::string resources_dir;  // <root>/resources (ML models: <root>/resources/<ResourceId>/)
  std::string shadow_db;      // <root>/var/shadow/shadows.db
};

// One line of the report.
struct ImportItem {
  enum class Result {
    kImported,     // written into the Evergreen root (or would be, in a dry run)
    kUnchanged,    // already imported, identical
    kMapped,       // a v1 system function served by Evergreen's own component
    kUnsupported,  // recognised, not supported by Evergreen (listed, never dropped silently)
    kSkipped,      // nothing to import (e.g. empty group, no shadows)
    kError,        // needed to run and could not be imported
  };
  std::string kind;  // config, certificate, group, function, system-function, connector, ...
  std::string name;
  Result result = Result::kImported;
  std::string detail;
};

struct ImportOptions {
  std::string from;  // the v1 greengrass root, e.g. /greengrass
  TargetPaths target;
  std::string group_file;  // --group: an export in the API shape instead of the on-device file
  bool dry_run = false;
  // --runtime NAME=RUNTIME / --handler NAME=HANDLER, for functions whose group entry lacks them.
  std::map<std::string, std::string> runtimes;
  std::map<std::string, std::string> handlers;
  // Called for every report line as it is decided (progress on a terminal); may be empty.
  std::function<void(const ImportItem&)> on_item;
};

std::string_view resultName(ImportItem::Result r);

struct ImportReport {
  std::string from;
  std::string write_dir;
  std::string root;
  bool dry_run = false;
  std::vector<ImportItem> items;
  // True when everything needed to run was imported (no kError item).
  bool ok() const;
  nlohmann::json toJson() const;
  std::string toText() const;
};

// Reads the v1 tree and writes the Evergreen root. Returns a report even when items failed; a
// non-OK Status only when the tree cannot be read at all (no config.json, unreadable JSON).
Result<ImportReport> importV1(const ImportOptions& opts);

}  // namespace evg::importer
