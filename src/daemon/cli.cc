#include "daemon/cli.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "certs/certs.h"
#include "config/config.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/root.h"
#include "functions/function_cli.h"
#include "secrets/secrets_cli.h"
#include "group/group.h"

namespace evg::daemon {
namespace {

constexpr const char* kUsage =
    "usage: evergreen <command> [options]\n"
    "\n"
    "  run --root DIR [--log-level LEVEL]   run the core in the foreground (initialises an empty "
    "DIR)\n"
    "  deploy --root DIR GROUP.json         validate and activate a group on the running core\n"
    "                                       (no core running: staged for its next start, exit 3)\n"
    "  validate-group GROUP.json            validate a group file and print a summary\n"
    "  status --root DIR                    connection, routing and worker counters of the core\n"
    "  reload --root DIR                    re-read config.json (same as SIGHUP)\n"
    "  certs issue-device --root DIR THING [--out DIR]\n"
    "                                       write a device key + certificate signed by the group "
    "CA\n"
    "  certs fingerprint CERT.pem           SHA-256 fingerprint as used in the group's Devices[]\n"
    "  secrets put --root DIR --arn ARN (--string S | --file F [--binary]) [--stage L]...\n"
    "                                       store a secret value (encrypted) for GGSecretManager\n"
    "  secrets list --root DIR              ARNs of stored secrets (never values)\n"
    "  function <create|publish-version|create-alias|update-alias|list|delete> ...\n"
    "                                       manage function versions and aliases (like `aws "
    "lambda`)\n"
    "  version\n";

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

int cmdDeploy(const Args& a, std::ostream& out, std::ostream& err) {
  auto root = flag(a, "root");
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
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::parse_error& e) {
    err << a.positional[0] << ": invalid JSON: " << e.what() << "\n";
    return kExitInvalid;
  }
  // Validate locally first so the error names the element even when no core runs.
  auto g = group::parseGroup(j);
  if (!g) {
    err << "group rejected: " << g.status().message() << "\n";
    return kExitInvalid;
  }
  int timeout_ms = 30000;
  if (auto t = flag(a, "timeout")) timeout_ms = std::max(1, std::atoi(t->c_str())) * 1000;
  auto resp = controlCall(paths.control_socket, {{"op", "deploy"}, {"group", j}}, timeout_ms);
  if (!resp) {
    if (resp.status().code() != Code::kNotFound) {
      err << "evergreen deploy: " << resp.status().message() << "\n";
      return kExitFailure;
    }
    Status s = writeFileAtomic(paths.group_file, j.dump(2) + "\n");
    if (!s) {
      err << "evergreen deploy: " << s.message() << "\n";
      return kExitFailure;
    }
    out << "no core is running: group staged at " << paths.group_file
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
  if (cmd == "function") return functions::runFunctionCli(argc - 1, argv + 1, out, err);
  if (cmd == "certs") return cmdCerts(argc, argv, out, err);
  if (cmd == "secrets") return secrets::runSecretsCli(argc - 1, argv + 1, out, err);
  Args a = parseArgs(argc, argv, 2);
  if (!a.error.empty()) {
    err << a.error << "\n";
    return kExitInvalid;
  }
  if (cmd == "run") return cmdRun(a, out, err);
  if (cmd == "deploy") return cmdDeploy(a, out, err);
  if (cmd == "validate-group") return cmdValidateGroup(a, out, err);
  if (cmd == "status") return cmdSimpleControl(a, "status", out, err);
  if (cmd == "reload") return cmdSimpleControl(a, "reload", out, err);
  err << "evergreen: unknown command '" << cmd << "'\n" << kUsage;
  return kExitInvalid;
}

}  // namespace evg::daemon
