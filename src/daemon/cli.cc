#include "daemon/cli.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/json.h"
#include "certs/certs.h"
#include "config/config.h"
#include "daemon/control.h"
#include "daemon/core.h"
#include "daemon/daemon.h"
#include "daemon/deploy_history.h"
#include "daemon/job_document_cli.h"
#include "daemon/logs_cli.h"
#include "daemon/root.h"
#include "daemon/root_default.h"
#include "functions/function_cli.h"
#include "group/group.h"
#include "importer/importer.h"
#include "secrets/secrets_cli.h"

namespace evg::daemon {
namespace {

constexpr const char* kUsage =
    "usage: evergreen <command> [options]\n"
    "\n"
    "  run --root DIR [--log-level LEVEL]   run the core in the foreground (initialises an empty "
    "DIR)\n"
    "  deploy --root DIR GROUP.json         validate and activate a group on the running core\n"
    "                                       (no core running: staged for its next start, exit 3)\n"
    "  deploy --root DIR --rollback [ID]    re-activate deployment ID, or the latest successful "
    "one\n"
    "                                       whose group differs from the active one (running "
    "core)\n"
    "  deployments list --root DIR [--json] the deployment history (DIR/var/deployments)\n"
    "  deployments show --root DIR ID       one record and the group it activated (JSON)\n"
    "  reset --root DIR [--force]           clear the deployment: active group (functions stop),\n"
    "                                       group.json, local shadows. Keeps config, "
    "certificates,\n"
    "                                       function store, secrets, history. --force: also with "
    "no\n"
    "                                       core running (edits the files)\n"
    "  validate-group GROUP.json            validate a group file and print a summary\n"
    "  job-document --group GROUP.json --s3 s3://BUCKET/PREFIX [--function N:V:RUNTIME:H:ZIP]...\n"
    "                                       build an AWS IoT job document for a fleet deployment\n"
    "  status --root DIR                    connection, routing and worker counters of the core\n"
    "  reload --root DIR                    re-read config.json (same as SIGHUP)\n"
    "  certs issue-device --root DIR THING [--out DIR]\n"
    "                                       write a device key + certificate signed by the group "
    "CA\n"
    "  certs fingerprint CERT.pem           SHA-256 fingerprint as used in the group's Devices[]\n"
    "  certs ca-bundle --root DIR           the CA (PEM) a device must trust to verify this core\n"
    "  certs renew-server --root DIR        renew the core's server certificate now (running "
    "core;\n"
    "                                       connected devices stay connected)\n"
    "  secrets put --root DIR --arn ARN (--string S | --file F [--binary]) [--stage L]...\n"
    "                                       store a secret value (encrypted) for GGSecretManager\n"
    "  secrets list --root DIR              ARNs of stored secrets (never values)\n"
    "  function <create|publish-version|create-alias|update-alias|list|delete> ...\n"
    "                                       manage function versions and aliases (like `aws "
    "lambda`)\n"
    "  logs [--function NAME | --component NAME] [-f] [--since WHEN] [--lines N]\n"
    "                                       show the core's (rotated) system or function logs\n"
    "  import-v1 --from /greengrass --root DIR [--group FILE] [--runtime NAME=RT]... \n"
    "            [--handler NAME=H]... [--dry-run] [--json]\n"
    "                                       turn a Greengrass v1 core into an Evergreen root "
    "(reads\n"
    "                                       /greengrass, never modifies it); exit 2 lists what is "
    "missing\n"
    "  version\n"
    "\n"
    "Without --root DIR: $EVERGREEN_ROOT, else EVERGREEN_ROOT= in /etc/default/evergreen, else\n"
    "/var/lib/evergreen when it exists. `evergreen <command> --help` describes one command.\n";

// `evergreen <command> --help`.
const std::map<std::string, std::string>& verbHelp() {
  static const std::map<std::string, std::string> h = {
      {"run",
       "usage: evergreen run [--root DIR] [--log-level LEVEL]\n"
       "Runs the core in the foreground; an empty DIR is initialised (config, group CA, server\n"
       "certificate). Logs: DIR/var/log/system/<component>.log and stderr. SIGTERM/SIGINT stop\n"
       "within 2 s, SIGHUP re-reads config.json. Under systemd (Type=notify) it reports READY=1\n"
       "and sends WATCHDOG=1 from its event loop. Exit: 0 ok, 1 failure, 2 invalid config.\n"},
      {"deploy",
       "usage: evergreen deploy [--root DIR] [--timeout SECONDS] GROUP.json\n"
       "       evergreen deploy [--root DIR] --rollback [ID]\n"
       "Validates the group, then activates it on the running core (exit 0 once active; the\n"
       "previous group stays on error, exit 2). No core running: staged for its next start,\n"
       "exit 3. On a terminal each step is shown as it happens. Every activation is recorded\n"
       "(`evergreen deployments list`). --rollback re-activates deployment ID, or the latest\n"
       "successful one whose group differs from the active one, through the same validation\n"
       "(its function versions must still be in the store); needs a running core.\n"},
      {"deployments",
       "usage: evergreen deployments list [--root DIR] [--json]\n"
       "       evergreen deployments show [--root DIR] ID\n"
       "The deployment history in DIR/var/deployments (evergreen.deployments.maxHistory records,\n"
       "default 50): id, source (deploy|start|rollback|reset|import|job), time, SHA-256 of the\n"
       "canonical group, resolved function versions, result and message. show prints one record\n"
       "and the group it activated as JSON. Works with or without a running core.\n"},
      {"reset",
       "usage: evergreen reset [--root DIR] [--force]\n"
       "v1's ResetDeployment. Clears: the active group (every function stops, the group's devices\n"
       "are disconnected), DIR/deployment/group/group.json (active and staged group) and the\n"
       "local shadows (DIR/var/shadow/shadows.db). Keeps: config.json, certificates, the\n"
       "function store (DIR/functions), secrets, the cloud spool, logs and the deployment\n"
       "history (`deploy --rollback` brings the last group back). Talks to the running core;\n"
       "with no core running it refuses unless --force, which removes those files directly.\n"},
      {"validate-group",
       "usage: evergreen validate-group GROUP.json\n"
       "Validates a group file offline and prints a summary (exit 2 naming the element).\n"},
      {"status",
       "usage: evergreen status [--root DIR]\n"
       "Prints the running core's counters as JSON (connections, routing, drops, cloud, spool,\n"
       "shadows, secrets, functions). The same figures: GET /metrics (evergreen.metrics.port).\n"},
      {"reload",
       "usage: evergreen reload [--root DIR]\n"
       "Re-reads config.json on the running core (same as SIGHUP / systemctl reload).\n"},
      {"certs",
       "usage: evergreen certs issue-device [--root DIR] THING [--out DIR]\n"
       "       evergreen certs fingerprint CERT.pem\n"
       "       evergreen certs ca-bundle [--root DIR]\n"
       "       evergreen certs renew-server [--root DIR]\n"
       "issue-device writes a device key + certificate signed by the group CA and prints its\n"
       "SHA-256 fingerprint (the group's Devices[].CertificateFingerprintSha256). A device that\n"
       "keeps its AWS IoT certificate needs none: its CertificateArn's id is its SHA-256.\n"
       "ca-bundle prints the CA a device must trust to verify this core. renew-server renews the\n"
       "core's server certificate now; connected devices stay connected.\n"},
      {"import-v1",
       "usage: evergreen import-v1 --from /greengrass --root DIR [--group FILE]\n"
       "                           [--runtime NAME=RT]... [--handler NAME=H]... [--dry-run] "
       "[--json]\n"
       "Turns a Greengrass v1 core's tree into an Evergreen root: identity (thing, certificate,\n"
       "key, CA), config, the deployed group, function code as the same versions, ML resources,\n"
       "local shadows, the local server certificate. /greengrass is only read. Every element is\n"
       "imported or listed with the reason; exit 0 when everything needed to run was imported,\n"
       "2 otherwise. --dry-run writes nothing; a second run changes nothing.\n"
       "Cut-over: docs/migrate-from-v1.md.\n"},
      {"function",
       "usage: evergreen function <create|publish-version|create-alias|update-alias|list|\n"
       "                           list-versions|list-aliases|get|delete> [--root DIR] [options]\n"
       "The local function store, like `aws lambda`: create --function-name N --runtime R\n"
       "--handler H (--zip-file fileb://F | --code-dir D), publish-version, aliases (PROD...).\n"
       "Group files reference functions by their qualified ARN (...:function:N:PROD).\n"},
      {"secrets",
       "usage: evergreen secrets put [--root DIR] --arn ARN (--string S | --file F [--binary])\n"
       "                             [--stage LABEL]...\n"
       "       evergreen secrets list [--root DIR]\n"
       "Stores secret values encrypted (AES-256-GCM) for GGSecretManager; list shows ARNs only.\n"},
      {"logs",
       "usage: evergreen logs [--root DIR] [--function NAME | --component NAME] [-f]\n"
       "                      [--since WHEN] [--lines N]\n"
       "Shows DIR/var/log/system/<component>.log (all components merged by time when no\n"
       "selector is given) or a function's DIR/var/log/user/<region>/<account>/<NAME>.log,\n"
       "rotated files included, oldest first. --function takes a name or a Lambda ARN.\n"
       "--since: 30s, 10m, 2h, 1d or an ISO-8601 time. -f/--follow keeps printing new lines.\n"},
  };
  return h;
}

// Commands that work on a root; --root is optional for them (see defaultRoot()).
bool takesRoot(const std::string& cmd, const std::string& sub) {
  if (cmd == "certs") return sub == "issue-device" || sub == "ca-bundle" || sub == "renew-server";
  return cmd == "run" || cmd == "deploy" || cmd == "status" || cmd == "reload" || cmd == "logs" ||
         cmd == "function" || cmd == "secrets" || cmd == "deployments" || cmd == "reset";
}

// Minimal flag parser: --name value pairs plus positionals.
struct Args {
  std::map<std::string, std::string> flags;
  std::vector<std::string> positional;
  std::string error;
};

Args parseArgs(int argc, char** argv, int start, const std::vector<std::string>& bool_flags = {}) {
  Args a;
  for (int i = start; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) == 0) {
      std::string name = s.substr(2);
      auto eq = name.find('=');
      if (eq != std::string::npos) {
        a.flags[name.substr(0, eq)] = name.substr(eq + 1);
        continue;
      }
      bool is_bool = false;
      for (const auto& b : bool_flags) is_bool |= b == name;
      if (is_bool) {
        a.flags[name] = "true";
      } else if (i + 1 < argc) {
        a.flags[name] = argv[++i];
      } else {
        a.error = "option --" + name + " needs a value";
      }
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

std::optional<std::string> flag(const Args& a, const std::string& name) {
  auto it = a.flags.find(name);
  if (it == a.flags.end()) return std::nullopt;
  return it->second;
}

int cmdRun(const Args& a, std::ostream& out, std::ostream& err) {
  auto root = flag(a, "root");
  if (!root) {
    err << "evergreen run: --root DIR is required\n";
    return kExitInvalid;
  }
  DaemonOptions opts;
  opts.paths = RootPaths::of(*root);
  if (auto lvl = flag(a, "log-level")) {
    auto l = parseLogLevel(*lvl);
    if (!l) {
      err << "--log-level: " << l.status().message() << "\n";
      return kExitInvalid;
    }
    opts.log_level_override = *l;
  }
  return runDaemon(opts, out, err);
}

DeployHistory historyOf(const RootPaths& paths) {
  size_t max = config::DeploymentsConfig{}.max_history;
  if (std::filesystem::exists(paths.config_file)) {
    if (auto c = config::loadConfigFile(paths.config_file, paths.root)) {
      max = static_cast<size_t>(c->evergreen.deployments.max_history);
    }
  }
  return DeployHistory({deploymentsDirOf(paths.root), max});
}

std::optional<int64_t> parseId(const std::string& s) {
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoll(s);
}

int cmdRollback(const Args& a, const std::string& root, std::ostream& out, std::ostream& err) {
  nlohmann::json req = {{"op", "rollback"}};
  if (a.positional.size() > 1) {
    err << "usage: evergreen deploy --root DIR --rollback [ID]\n";
    return kExitInvalid;
  }
  if (a.positional.size() == 1) {
    auto id = parseId(a.positional[0]);
    if (!id) {
      err << "evergreen deploy --rollback: ID must be a deployment id (a number), got '"
          << a.positional[0] << "'\n";
      return kExitInvalid;
    }
    req["id"] = *id;
  }
  auto resp = controlCall(RootPaths::of(root).control_socket, req, 60000);
  if (!resp) {
    if (resp.status().code() == Code::kNotFound) {
      err << "evergreen deploy --rollback: no core is running (a rollback is activated and "
             "validated by the running core; start it with `evergreen run --root "
          << root << "`)\n";
    } else {
      err << "evergreen deploy --rollback: " << resp.status().message() << "\n";
    }
    return kExitFailure;
  }
  if (!(*resp).value("ok", false)) {
    err << "rollback refused: " << (*resp).value("error", std::string("unknown error")) << "\n";
    return kExitFailure;
  }
  out << (*resp)["result"].dump(2) << "\n";
  return kExitOk;
}

// Every check a running core makes before activating `j`, against this root's config.json (or
// the defaults a fresh root gets) and function store: a staged group must be one the core will
// activate at its next start.
Result<std::vector<std::string>> validateStaged(const RootPaths& paths, const nlohmann::json& j) {
  Result<config::CoreConfig> cfg =
      std::filesystem::exists(paths.config_file)
          ? config::loadConfigFile(paths.config_file, paths.root)
          : config::parseConfig(config::defaultConfigJson(), paths.root);
  if (!cfg) return cfg.status().withContext(paths.config_file + ": ");
  LogOptions lo;
  lo.to_stderr = false;
  lo.level = LogLevel::kFatal;
  Logger logger(lo);
  boost::asio::io_context io(1);
  Core core(io, paths, std::move(cfg).value(), logger);
  return core.validateGroup(j);
}

int cmdDeploy(const Args& a, std::ostream& out, std::ostream& err) {
  auto root = flag(a, "root");
  if (root && flag(a, "rollback")) return cmdRollback(a, *root, out, err);
  if (!root || a.positional.size() != 1) {
    err << "usage: evergreen deploy --root DIR GROUP.json\n";
    return kExitInvalid;
  }
  RootPaths paths = RootPaths::of(*root);
  auto text = readFile(a.positional[0]);
  if (!text) {
    err << "evergreen deploy: " << text.status().message() << "\n";
    return kExitInvalid;
  }
  auto parsed = parseJson(*text);
  if (!parsed) {
    err << a.positional[0] << ": invalid JSON: " << parsed.status().message() << "\n";
    return kExitInvalid;
  }
  nlohmann::json j = std::move(parsed).value();
  // Validate locally first so the error names the element even when no core runs.
  auto g = group::parseGroup(j);
  if (!g) {
    err << "group rejected: " << g.status().message() << "\n";
    return kExitInvalid;
  }
  int timeout_ms = 30000;
  if (auto t = flag(a, "timeout")) timeout_ms = std::max(1, std::atoi(t->c_str())) * 1000;
  // On a terminal, each step is shown as it happens (stderr; stdout keeps the JSON result).
  const bool tty = ::isatty(STDERR_FILENO) == 1 && &err == &std::cerr;
  if (tty) {
    err << "[1/3] group valid: " << g->subscriptions.size() << " subscriptions, "
        << g->functions.size() << " functions, " << g->devices.size() << " devices\n";
  }
  std::atomic<bool> done{false};
  std::thread progress;
  if (tty) {
    auto start = std::chrono::steady_clock::now();
    auto line = [start](char spin) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "\r[2/3] core resolving functions and activating the group %c %.1fs",
                   spin, s);
      std::fflush(stderr);
    };
    line('|');  // shown even when the core answers at once
    progress = std::thread([&done, line] {
      static const char spin[] = "|/-\\";
      for (int i = 1; !done; ++i) {
        for (int k = 0; k < 4 && !done; ++k)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        line(spin[i % 4]);
      }
      std::fprintf(stderr, "\n");
    });
  }
  auto resp = controlCall(paths.control_socket, {{"op", "deploy"}, {"group", j}}, timeout_ms);
  done = true;
  if (progress.joinable()) progress.join();
  if (tty && resp && (*resp).value("ok", false)) err << "[3/3] group active\n";
  if (!resp) {
    if (resp.status().code() != Code::kNotFound) {
      err << "evergreen deploy: " << resp.status().message() << "\n";
      return kExitFailure;
    }
    auto checked = validateStaged(paths, j);
    if (!checked) {
      err << "group rejected (no core running, nothing staged): " << checked.status().message()
          << "\n";
      return kExitInvalid;
    }
    Status s = writeFileAtomic(paths.group_file, j.dump(2) + "\n");
    if (!s) {
      err << "evergreen deploy: " << s.message() << "\n";
      return kExitFailure;
    }
    for (const auto& w : *checked) err << "warning: " << w << "\n";
    out << "no core is running: group validated and staged at " << paths.group_file
        << "; it becomes active when the core starts\n";
    return kExitStaged;
  }
  if (!(*resp).value("ok", false)) {
    err << "group rejected: " << (*resp).value("error", std::string("unknown error")) << "\n";
    return kExitInvalid;
  }
  out << (*resp)["result"].dump(2) << "\n";
  return kExitOk;
}

int cmdLogs(const Args& a, std::ostream& out, std::ostream& err) {
  auto root = flag(a, "root");
  if (!root) {
    err << "evergreen logs: --root DIR is required\n";
    return kExitInvalid;
  }
  LogsOptions o;
  o.root = RootPaths::of(*root).root;
  o.function = flag(a, "function").value_or("");
  o.component = flag(a, "component").value_or("");
  if (!o.function.empty() && !o.component.empty()) {
    err << "evergreen logs: give --function or --component, not both\n";
    return kExitInvalid;
  }
  o.follow = flag(a, "follow").has_value();
  for (const auto& p : a.positional) {
    if (p == "-f") {
      o.follow = true;
    } else {
      err << "evergreen logs: unexpected argument '" << p << "'\n" << verbHelp().at("logs");
      return kExitInvalid;
    }
  }
  if (auto s = flag(a, "since")) {
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    auto t = parseSince(*s, now);
    if (!t) {
      err << "evergreen logs: " << t.status().message() << "\n";
      return kExitInvalid;
    }
    o.since_ms = *t;
  }
  if (auto n = flag(a, "lines")) {
    char* end = nullptr;
    long v = std::strtol(n->c_str(), &end, 10);
    if (end == n->c_str() || *end != '\0' || v < 0) {
      err << "evergreen logs: --lines: expected a non-negative integer, got \"" << *n << "\"\n";
      return kExitInvalid;
    }
    o.lines = static_cast<size_t>(v);
  }
  return runLogs(o, out, err);
}

int cmdValidateGroup(const Args& a, std::ostream& out, std::ostream& err) {
  if (a.positional.size() != 1) {
    err << "usage: evergreen validate-group GROUP.json\n";
    return kExitInvalid;
  }
  auto g = group::loadGroupFile(a.positional[0]);
  if (!g) {
    err << "group rejected: " << g.status().message() << "\n";
    return kExitInvalid;
  }
  out << "group OK: " << g->subscriptions.size() << " subscriptions, " << g->functions.size()
      << " functions, " << g->devices.size() << " devices\n";
  return kExitOk;
}

std::string shortTime(const std::string& t) { return t.size() >= 19 ? t.substr(0, 19) : t; }

int cmdDeployments(const Args& a, std::ostream& out, std::ostream& err) {
  auto root = flag(a, "root");
  if (!root || a.positional.empty() || (a.positional[0] != "list" && a.positional[0] != "show") ||
      (a.positional[0] == "list" && a.positional.size() != 1) ||
      (a.positional[0] == "show" && a.positional.size() != 2)) {
    err << "usage: evergreen deployments list --root DIR [--json]\n"
           "       evergreen deployments show --root DIR ID\n";
    return kExitInvalid;
  }
  auto history = historyOf(RootPaths::of(*root));
  if (a.positional[0] == "show") {
    auto id = parseId(a.positional[1]);
    if (!id) {
      err << "evergreen deployments show: ID must be a deployment id (a number), got '"
          << a.positional[1] << "'\n";
      return kExitInvalid;
    }
    auto r = history.get(*id);
    if (!r) {
      err << "evergreen deployments show: " << r.status().message() << "\n";
      return r.status().code() == Code::kNotFound ? kExitInvalid : kExitFailure;
    }
    nlohmann::json j = r->toJson();
    if (r->has_group) {
      auto g = history.groupOf(r->id);
      if (g) j["group"] = *g;
    }
    out << j.dump(2) << "\n";
    return kExitOk;
  }
  auto all = history.list();
  if (!all) {
    err << "evergreen deployments list: " << all.status().message() << "\n";
    return kExitFailure;
  }
  if (flag(a, "json")) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : *all) arr.push_back(r.toJson());
    out << arr.dump(2) << "\n";
    return kExitOk;
  }
  if (all->empty()) {
    out << "no deployments recorded in " << history.historyFile() << "\n";
    return kExitOk;
  }
  char line[256];
  std::snprintf(line, sizeof line, "%-5s %-19s %-8s %-9s %-12s %-4s %s\n", "ID", "TIME (UTC)",
                "SOURCE", "RESULT", "GROUP HASH", "FNS", "MESSAGE");
  out << line;
  for (const auto& r : *all) {
    std::snprintf(line, sizeof line, "%-5lld %-19s %-8s %-9s %-12s %-4zu ",
                  static_cast<long long>(r.id), shortTime(r.time).c_str(), r.source.c_str(),
                  r.succeeded ? "succeeded" : "rejected", r.group_hash.substr(0, 12).c_str(),
                  r.functions.size());
    out << line << r.message << "\n";
  }
  return kExitOk;
}

// Offline reset (no core running): the same files the core's reset clears.
int resetFiles(const RootPaths& paths, std::ostream& out, std::ostream& err) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  std::string shadow_db = paths.root + "/var/shadow/shadows.db";
  for (const auto& f : {paths.group_file, shadow_db, shadow_db + "-wal", shadow_db + "-shm"}) {
    std::error_code ec;
    if (fs::remove(f, ec)) removed.push_back(f);
    if (ec) {
      err << "evergreen reset: cannot remove " << f << ": " << ec.message() << "\n";
      return kExitFailure;
    }
  }
  DeploymentRecord r;
  r.source = "reset";
  r.succeeded = true;
  r.message = "forced with no core running: group file and shadows database removed";
  auto rec = historyOf(paths).record(std::move(r));
  nlohmann::json j = {
      {"reset", true},
      {"coreRunning", false},
      {"removed", removed},
      {"kept", {"config", "certificates", "function store", "secrets", "deployment history"}}};
  if (rec) {
    j["deploymentId"] = rec->id;
  } else {
    err << "evergreen reset: not recorded in the history: " << rec.status().message() << "\n";
  }
  out << j.dump(2) << "\n";
  return kExitOk;
}

int cmdReset(const Args& a, std::ostream& out, std::ostream& err) {
  auto root = flag(a, "root");
  if (!root || !a.positional.empty()) {
    err << "usage: evergreen reset --root DIR [--force]\n";
    return kExitInvalid;
  }
  RootPaths paths = RootPaths::of(*root);
  if (!std::filesystem::exists(paths.config_file)) {
    err << "evergreen reset: " << paths.config_file << " not found: not an Evergreen root\n";
    return kExitInvalid;
  }
  auto resp = controlCall(paths.control_socket, {{"op", "reset"}}, 60000);
  if (!resp) {
    if (resp.status().code() != Code::kNotFound) {
      err << "evergreen reset: " << resp.status().message() << "\n";
      return kExitFailure;
    }
    if (!flag(a, "force")) {
      err << "evergreen reset: no core is running on " << paths.root
          << "; use --force to reset its files directly\n";
      return kExitFailure;
    }
    return resetFiles(paths, out, err);
  }
  if (!(*resp).value("ok", false)) {
    err << "evergreen reset: " << (*resp).value("error", std::string("failed")) << "\n";
    return kExitFailure;
  }
  out << (*resp)["result"].dump(2) << "\n";
  return kExitOk;
}

int cmdSimpleControl(const Args& a, const std::string& op, std::ostream& out, std::ostream& err) {
  auto root = flag(a, "root");
  if (!root) {
    err << "evergreen " << op << ": --root DIR is required\n";
    return kExitInvalid;
  }
  auto resp = controlCall(RootPaths::of(*root).control_socket, {{"op", op}}, 10000);
  if (!resp) {
    err << "evergreen " << op << ": " << resp.status().message() << "\n";
    return kExitFailure;
  }
  if (!(*resp).value("ok", false)) {
    err << "evergreen " << op << ": " << (*resp).value("error", std::string("failed")) << "\n";
    return kExitFailure;
  }
  out << (*resp)["result"].dump(2) << "\n";
  return kExitOk;
}

int cmdCerts(int argc, char** argv, std::ostream& out, std::ostream& err) {
  if (argc < 3) {
    err << kUsage;
    return kExitInvalid;
  }
  std::string sub = argv[2];
  Args a = parseArgs(argc, argv, 3);
  if (!a.error.empty()) {
    err << a.error << "\n";
    return kExitInvalid;
  }
  if (sub == "issue-device") {
    auto root = flag(a, "root");
    if (!root || a.positional.size() != 1) {
      err << "usage: evergreen certs issue-device --root DIR THING_NAME [--out DIR]\n";
      return kExitInvalid;
    }
    RootPaths paths = RootPaths::of(*root);
    auto init = initRoot(paths);
    if (!init) {
      err << "evergreen certs: " << init.status().message() << "\n";
      return kExitFailure;
    }
    std::string out_dir = flag(a, "out").value_or(paths.device_certs_dir);
    auto dc = certs::issueDeviceCert(paths.certs_dir, a.positional[0], out_dir);
    if (!dc) {
      err << "evergreen certs: " << dc.status().message() << "\n";
      return dc.status().code() == Code::kInvalid ? kExitInvalid : kExitFailure;
    }
    nlohmann::json j = {{"thingName", a.positional[0]},
                        {"certificatePath", dc->cert_path},
                        {"privateKeyPath", dc->key_path},
                        {"caPath", paths.certs_dir + "/group-ca.pem"},
                        {"CertificateFingerprintSha256", dc->sha256_fingerprint}};
    out << j.dump(2) << "\n";
    return kExitOk;
  }
  if (sub == "renew-server") {
    auto root = flag(a, "root");
    if (!root) {
      err << "usage: evergreen certs renew-server --root DIR\n";
      return kExitInvalid;
    }
    auto resp =
        controlCall(RootPaths::of(*root).control_socket, {{"op", "renew-server-cert"}}, 60000);
    if (!resp || !(*resp).value("ok", false)) {
      err << "evergreen certs renew-server: "
          << (resp ? (*resp).value("error", std::string("failed")) : resp.status().message())
          << "\n";
      return kExitFailure;
    }
    out << (*resp)["result"].dump(2) << "\n";
    return kExitOk;
  }
  if (sub == "ca-bundle") {
    // What a device must trust to verify this core: the group CA that signs Evergreen's server
    // certificate. (A core still serving an imported v1 server certificate says so on stderr.)
    auto root = flag(a, "root");
    if (!root) {
      err << "usage: evergreen certs ca-bundle --root DIR\n";
      return kExitInvalid;
    }
    RootPaths paths = RootPaths::of(*root);
    auto pem = certs::pemOfCertFile(paths.certs_dir + "/" + std::string(certs::kCaCertFile));
    if (!pem) {
      err << "evergreen certs: " << pem.status().message() << "\n";
      return kExitFailure;
    }
    auto v1 = certs::certificateValidity(paths.certs_dir + "/v1-server.pem");
    if (v1 && !v1->expired) {
      err << "note: this core serves the imported Greengrass v1 server certificate until "
          << v1->not_after << "; devices that trust the v1 group CA keep working until then, "
          << "and need the CA below from that date\n";
    }
    out << *pem;
    return kExitOk;
  }
  if (sub == "fingerprint") {
    if (a.positional.size() != 1) {
      err << "usage: evergreen certs fingerprint CERT.pem\n";
      return kExitInvalid;
    }
    auto fp = certs::fingerprintSha256OfPemFile(a.positional[0]);
    if (!fp) {
      err << "evergreen certs: " << fp.status().message() << "\n";
      return kExitInvalid;
    }
    out << *fp << "\n";
    return kExitOk;
  }
  err << "evergreen certs: unknown sub-command '" << sub << "'\n" << kUsage;
  return kExitInvalid;
}

// --runtime NAME=RT and --handler NAME=H may repeat: collect them from argv.
Result<std::map<std::string, std::string>> repeatedPairs(int argc, char** argv,
                                                         const std::string& name) {
  std::map<std::string, std::string> out;
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    std::string v;
    if (s == "--" + name && i + 1 < argc) {
      v = argv[++i];
    } else if (s.rfind("--" + name + "=", 0) == 0) {
      v = s.substr(name.size() + 3);
    } else {
      continue;
    }
    auto eq = v.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
      return Status::invalid("--" + name + " expects FUNCTION_NAME=VALUE, got \"" + v + "\"");
    }
    out[v.substr(0, eq)] = v.substr(eq + 1);
  }
  return out;
}

int cmdImportV1(int argc, char** argv, std::ostream& out, std::ostream& err) {
  Args a = parseArgs(argc, argv, 2, {"dry-run", "json"});
  auto from = flag(a, "from");
  auto root = flag(a, "root");
  if (!a.error.empty() || !from || !root || !a.positional.empty()) {
    err << (a.error.empty() ? "" : a.error + "\n")
        << "usage: evergreen import-v1 --from /greengrass --root DIR [--group FILE] "
           "[--runtime NAME=RT]... [--handler NAME=H]... [--dry-run] [--json]\n";
    return kExitInvalid;
  }
  auto runtimes = repeatedPairs(argc, argv, "runtime");
  auto handlers = repeatedPairs(argc, argv, "handler");
  for (const auto* r : {&runtimes, &handlers}) {
    if (!*r) {
      err << "evergreen import-v1: " << r->status().message() << "\n";
      return kExitInvalid;
    }
  }
  RootPaths paths = RootPaths::of(*root);
  importer::ImportOptions o;
  o.from = *from;
  o.target = {paths.root,       paths.config_file,   paths.certs_dir,
              paths.group_file, paths.resources_dir, paths.shadow_db};
  o.group_file = flag(a, "group").value_or("");
  o.dry_run = flag(a, "dry-run").has_value();
  o.runtimes = *runtimes;
  o.handlers = *handlers;
  if (::isatty(2) == 1) {  // progress on a terminal: one line per element as it is decided
    o.on_item = [&err, n = 0](const importer::ImportItem& i) mutable {
      err << "[" << ++n << "] " << i.kind << " " << i.name << ": " << importer::resultName(i.result)
          << "\n";
    };
  }
  auto rep = importer::importV1(o);
  if (!rep) {
    err << "evergreen import-v1: " << rep.status().message() << "\n";
    return kExitInvalid;
  }
  if (!o.dry_run && rep->ok()) {
    // The rest of a working root: directories, the group CA and the server certificate.
    auto init = initRoot(paths);
    if (!init) {
      err << "evergreen import-v1: " << init.status().message() << "\n";
      return kExitFailure;
    }
  }
  if (flag(a, "json")) {
    out << rep->toJson().dump(2) << "\n";
  } else {
    out << rep->toText();
  }
  return rep->ok() ? kExitOk : kExitInvalid;
}

}  // namespace

int runCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  if (argc < 2) {
    err << kUsage;
    return kExitInvalid;
  }
  std::string cmd = argv[1];
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    out << kUsage;
    return kExitOk;
  }
  if (cmd == "version" || cmd == "--version") {
    out << "evergreen " << EVG_VERSION << "\n";
    return kExitOk;
  }
  // `evergreen <command> --help`
  if (auto it = verbHelp().find(cmd); it != verbHelp().end()) {
    for (int i = 2; i < argc; ++i) {
      std::string s = argv[i];
      if (s == "--help" || s == "-h") {
        out << it->second;
        return kExitOk;
      }
    }
  }
  // --root is optional: EVERGREEN_ROOT, /etc/default/evergreen, /var/lib/evergreen.
  std::vector<std::string> storage;
  std::vector<char*> args(argv, argv + argc);
  if (takesRoot(cmd, argc > 2 ? argv[2] : "")) {
    bool has_root = false;
    for (int i = 2; i < argc; ++i) {
      std::string s = argv[i];
      has_root |= s == "--root" || s.rfind("--root=", 0) == 0;
    }
    if (!has_root) {
      auto d = defaultRoot();
      if (!d) {
        err << "evergreen " << cmd << ": " << d.status().message() << "\n";
        return kExitInvalid;
      }
      storage = {"--root", d->root};
      args.push_back(storage[0].data());
      args.push_back(storage[1].data());
    }
  }
  argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  argv = args.data();
  if (cmd == "function") return functions::runFunctionCli(argc - 1, argv + 1, out, err);
  if (cmd == "certs") return cmdCerts(argc, argv, out, err);
  if (cmd == "secrets") return secrets::runSecretsCli(argc - 1, argv + 1, out, err);
  if (cmd == "import-v1") return cmdImportV1(argc, argv, out, err);
  if (cmd == "job-document") return runJobDocumentCli(argc - 1, argv + 1, out, err);
  Args a = parseArgs(argc, argv, 2, {"follow", "rollback", "force", "json"});
  if (!a.error.empty()) {
    err << a.error << "\n";
    return kExitInvalid;
  }
  if (cmd == "run") return cmdRun(a, out, err);
  if (cmd == "deploy") return cmdDeploy(a, out, err);
  if (cmd == "deployments") return cmdDeployments(a, out, err);
  if (cmd == "reset") return cmdReset(a, out, err);
  if (cmd == "validate-group") return cmdValidateGroup(a, out, err);
  if (cmd == "status") return cmdSimpleControl(a, "status", out, err);
  if (cmd == "reload") return cmdSimpleControl(a, "reload", out, err);
  if (cmd == "logs") return cmdLogs(a, out, err);
  err << "evergreen: unknown command '" << cmd << "'\n" << kUsage;
  return kExitInvalid;
}

}  // namespace evg::daemon
